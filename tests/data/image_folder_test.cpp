// ImageFolder trees: torchvision's class and file order, and one clear error naming the path
// for each kind of bad input (missing split, empty class, unreadable and corrupt files).
#include "bigbatch/data/image_folder.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "bigbatch/data/jpeg_source.h"
#include "data/jpeg_tree.h"

namespace bigbatch::data {
namespace {

namespace fs = std::filesystem;
using testing::invalid_argument_message;
using testing::TempDir;
using testing::TreeSpec;
using testing::write_file;
using testing::write_tree;

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

// Decodes every example of a split (the errors of bad files show only when read).
void read_all(const std::string& root, const std::string& split) {
  JpegSourceOptions o;
  o.transform.size = 16;
  JpegSource source(open_image_folder(root, split), o);
  std::vector<float> dst(static_cast<size_t>(source.example_shape().numel()));
  std::vector<int32_t> label(1);
  for (int64_t i = 0; i < source.size(); ++i) {
    const int64_t index[1] = {i};
    source.write(Transform::train, 0, index, dst, label);
  }
}

TEST(ImageFolder, ClassesAndFilesInTorchvisionOrder) {
  TempDir dir;
  write_tree(dir.str(), TreeSpec{{"b_dog", "a_cat", "c_emu"}, 3, 1});
  // A nested folder and a file that is not an image: torchvision walks the first and
  // ignores the second.
  fs::create_directories(dir.file("train/a_cat/sub"));
  write_file(dir.file("train/a_cat/sub/0.JPEG"), encode_jpeg(testing::test_image(20, 20, 1), 80));
  write_file(dir.file("train/a_cat/notes.txt"), {'h', 'i'});
  const std::vector<std::string> classes = list_image_classes(dir.str());
  EXPECT_EQ(classes, (std::vector<std::string>{"a_cat", "b_dog", "c_emu"}));
  const FolderListing train = list_image_folder(dir.str(), "train", classes);
  ASSERT_EQ(train.files.size(), 10u);
  EXPECT_EQ(fs::path(train.files[0]).filename().string(), "img0.jpg");
  EXPECT_EQ(fs::path(train.files[2]).filename().string(), "img2.jpg");
  EXPECT_EQ(fs::path(train.files[3]).parent_path().filename().string(), "sub");  // after its parent's files
  EXPECT_EQ(train.labels, (std::vector<int32_t>{0, 0, 0, 0, 1, 1, 1, 2, 2, 2}));
  auto images = open_image_folder(dir.str(), "val");
  EXPECT_EQ(images->size(), 3);
  EXPECT_EQ(images->label(2), 2);
  EXPECT_EQ(images->class_names(), classes);
}

TEST(ImageFolder, MissingSplitIsAnError) {
  TempDir dir;
  write_tree(dir.str(), TreeSpec{{"a", "b"}, 2, 1});
  fs::remove_all(dir.file("val"));
  const std::string m = invalid_argument_message([&] { open_image_folder(dir.str(), "val"); });
  EXPECT_TRUE(contains(m, "[data:imagefolder] " + dir.file("val") + ": split folder missing")) << m;
  const std::string t = invalid_argument_message([&] { open_image_folder(dir.file("nowhere"), "train"); });
  EXPECT_TRUE(contains(t, "split folder missing")) << t;
}

TEST(ImageFolder, EmptyClassFolderIsAnError) {
  TempDir dir;
  write_tree(dir.str(), TreeSpec{{"a", "b"}, 2, 1});
  fs::create_directories(dir.file("train/c_empty"));
  const std::string m = invalid_argument_message([&] { open_image_folder(dir.str(), "train"); });
  EXPECT_TRUE(contains(m, "[data:imagefolder] " + dir.file("train/c_empty") + ": empty class folder")) << m;
}

TEST(ImageFolder, ValClassUnknownToTrainIsAnError) {
  TempDir dir;
  write_tree(dir.str(), TreeSpec{{"a", "b"}, 2, 1});
  fs::create_directories(dir.file("val/zebra"));
  const std::string m = invalid_argument_message([&] { open_image_folder(dir.str(), "val"); });
  EXPECT_TRUE(contains(m, "class 'zebra' is not a class of the train split")) << m;
}

TEST(ImageFolder, OtherImageFormatsAreRefused) {
  TempDir dir;
  write_tree(dir.str(), TreeSpec{{"a", "b"}, 2, 1});
  write_file(dir.file("train/b/photo.png"), {0x89, 'P', 'N', 'G'});
  const std::string m = invalid_argument_message([&] { open_image_folder(dir.str(), "train"); });
  EXPECT_TRUE(contains(m, dir.file("train/b/photo.png") + ": only JPEG")) << m;
}

TEST(ImageFolder, UnreadableFileIsNamed) {
  TempDir dir;
  write_tree(dir.str(), TreeSpec{{"a", "b"}, 2, 1});
  // A dangling link cannot be opened whatever the user's rights (the tests may run as root).
  fs::create_symlink(dir.file("does-not-exist.jpg"), dir.file("train/b/zz_link.jpg"));
  const std::string m = invalid_argument_message([&] { read_all(dir.str(), "train"); });
  EXPECT_TRUE(contains(m, "[data:imagefolder] " + dir.file("train/b/zz_link.jpg") + ": cannot open")) << m;
}

TEST(ImageFolder, CorruptJpegIsNamed) {
  TempDir dir;
  write_tree(dir.str(), TreeSpec{{"a", "b"}, 2, 1});
  write_file(dir.file("train/a/img1.jpg"), {'G', 'I', 'F', '8', '9', 'a', 0, 0, 0});
  std::string m = invalid_argument_message([&] { read_all(dir.str(), "train"); });
  EXPECT_TRUE(contains(m, "[data:imagefolder] " + dir.file("train/a/img1.jpg") + ": not a readable JPEG")) << m;
  // A quarter cut off the end: the header reads, the data ends early.
  const std::vector<uint8_t> jpeg = encode_jpeg(testing::test_image(256, 192, 3), 90);
  write_file(dir.file("train/a/img1.jpg"),
             std::vector<uint8_t>(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(jpeg.size() * 3 / 4)));
  m = invalid_argument_message([&] { read_all(dir.str(), "train"); });
  EXPECT_TRUE(contains(m, dir.file("train/a/img1.jpg") + ": corrupt JPEG")) << m;
}

}  // namespace
}  // namespace bigbatch::data
