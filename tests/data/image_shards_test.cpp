// Packed shards: pack then read gives the folder's examples bit for bit; a damaged record
// or a truncated index is one clear error naming the file.
#include "bigbatch/data/image_shards.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "bigbatch/data/image_folder.h"
#include "bigbatch/data/jpeg_source.h"
#include "data/jpeg_tree.h"

namespace bigbatch::data {
namespace {

namespace fs = std::filesystem;
using testing::invalid_argument_message;
using testing::read_file;
using testing::TempDir;
using testing::TreeSpec;
using testing::write_file;
using testing::write_tree;

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

JpegSourceOptions small_options() {
  JpegSourceOptions o;
  o.transform.size = 24;
  o.transform.seed = 3;
  return o;
}

// Every example of a source through `transform`, in index order.
std::vector<float> all_examples(const ExampleSource& source, Transform transform, std::vector<int32_t>& labels) {
  const int64_t n = source.size(), numel = source.example_shape().numel();
  std::vector<int64_t> indices(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) indices[static_cast<size_t>(i)] = i;
  std::vector<float> dst(static_cast<size_t>(n * numel));
  labels.assign(static_cast<size_t>(n), -1);
  source.write(transform, 1, indices, dst, labels);
  return dst;
}

class ImageShards : public ::testing::Test {
 protected:
  void SetUp() override {
    write_tree(tree_.str(), TreeSpec{{"a", "b", "c"}, 5, 2});
    PackOptions o;
    o.shard_bytes = 4096;  // several shards even for these small images
    summary_ = pack_image_folder(tree_.str(), shards_.str(), o);
  }
  TempDir tree_, shards_;
  PackSummary summary_;
};

TEST_F(ImageShards, RoundTripGivesTheFoldersExamples) {
  EXPECT_EQ(summary_.records, 15 + 6);
  EXPECT_EQ(summary_.skipped, 0);
  EXPECT_GT(summary_.shards, 2);
  EXPECT_TRUE(has_image_shards(shards_.str()));
  for (const char* split : {"train", "val"}) {
    JpegSource folder(open_image_folder(tree_.str(), split), small_options());
    JpegSource shards(open_image_shards(shards_.str(), split), small_options());
    EXPECT_EQ(shards.size(), folder.size());
    EXPECT_EQ(shards.images().class_names(), folder.images().class_names());
    for (int64_t i = 0; i < folder.size(); ++i) {
      std::vector<uint8_t> a, b;
      folder.images().read(i, a);
      shards.images().read(i, b);
      EXPECT_EQ(a, b) << split << " record " << i;
    }
    for (Transform t : {Transform::train, Transform::eval}) {
      std::vector<int32_t> la, lb;
      const std::vector<float> a = all_examples(folder, t, la), b = all_examples(shards, t, lb);
      EXPECT_EQ(la, lb);
      ASSERT_EQ(a.size(), b.size());
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << split;
    }
  }
}

TEST_F(ImageShards, BadChecksumNamesTheShardAndRecord) {
  const ShardIndex index = decode_shard_index(read_file(shard_index_path(shards_.str(), "train")), "train.index");
  const ShardRecord& r = index.records[4];
  const std::string shard = (fs::path(shards_.str()) / index.shard_files[r.shard]).string();
  std::vector<uint8_t> bytes = read_file(shard);
  bytes[r.offset + kShardRecordHeader + r.length / 2] ^= 0x40;  // one bit inside record 4's JPEG
  write_file(shard, bytes);
  JpegSource source(open_image_shards(shards_.str(), "train"), small_options());
  std::vector<float> dst(static_cast<size_t>(source.example_shape().numel()));
  std::vector<int32_t> label(1);
  const int64_t good[1] = {3}, bad[1] = {4};
  source.write(Transform::train, 0, good, dst, label);
  const std::string m = invalid_argument_message([&] { source.write(Transform::train, 0, bad, dst, label); });
  EXPECT_TRUE(contains(m, "[data:imageshards] " + shard + " record 4 (train/a/img4.jpg): checksum mismatch")) << m;
}

TEST_F(ImageShards, TruncatedIndexIsAnError) {
  const std::string path = shard_index_path(shards_.str(), "train");
  std::vector<uint8_t> bytes = read_file(path);
  bytes.resize(bytes.size() * 2 / 3);
  write_file(path, bytes);
  const std::string m = invalid_argument_message([&] { open_image_shards(shards_.str(), "train"); });
  EXPECT_TRUE(contains(m, "[data:imageshards] " + path + ": index checksum mismatch (truncated")) << m;
  write_file(path, std::vector<uint8_t>(bytes.begin(), bytes.begin() + 5));
  const std::string n = invalid_argument_message([&] { open_image_shards(shards_.str(), "train"); });
  EXPECT_TRUE(contains(n, path + ": not a bigbatch shard index")) << n;
}

TEST_F(ImageShards, IndexDecodingChecksEveryLength) {
  // A consistent checksum over inconsistent contents (a lying record count) is still caught.
  ShardIndex index;
  index.class_names = {"a"};
  index.shard_files = {"train-00000.shard"};
  index.records.push_back({0, 0, 10, 0, 0, "a/x.jpg"});
  std::vector<uint8_t> bytes = encode_shard_index(index);
  EXPECT_EQ(decode_shard_index(bytes, "ok.index").records.size(), 1u);
  index.records[0].label = 1;  // no class 1
  const std::string m = invalid_argument_message([&] { decode_shard_index(encode_shard_index(index), "x.index"); });
  EXPECT_TRUE(contains(m, "x.index: record 0")) << m;
}

TEST_F(ImageShards, ShardNameWithNulIsRefused) {
  // Found by fuzz/shards_fuzz.cpp: open() stops at a NUL, so "a\0b" would open the file "a".
  ShardIndex index;
  index.class_names = {"a"};
  index.shard_files = {std::string("train\0x.shard", 13)};
  const std::string m = invalid_argument_message([&] { decode_shard_index(encode_shard_index(index), "x.index"); });
  EXPECT_TRUE(contains(m, "x.index: bad shard file name 'train\\x00x.shard'")) << m;
}

TEST_F(ImageShards, TruncatedShardIsNamed) {
  const ShardIndex index = decode_shard_index(read_file(shard_index_path(shards_.str(), "val")), "val.index");
  const std::string shard = (fs::path(shards_.str()) / index.shard_files.back()).string();
  fs::resize_file(shard, fs::file_size(shard) - 10);
  JpegSource source(open_image_shards(shards_.str(), "val"), small_options());
  std::vector<int32_t> labels;
  const std::string m = invalid_argument_message([&] { all_examples(source, Transform::eval, labels); });
  EXPECT_TRUE(contains(m, shard + " record")) << m;
  EXPECT_TRUE(contains(m, "truncated shard")) << m;
}

TEST_F(ImageShards, RecordLengthPastTheShardIsRefusedBeforeAllocating) {
  // Found by fuzz/shards_fuzz.cpp: an index (with a valid checksum) whose record claims 2 GiB
  // made read() allocate 2 GiB before pread found the file short.
  const std::string index_path = shard_index_path(shards_.str(), "val");
  ShardIndex index = decode_shard_index(read_file(index_path), index_path);
  index.records[0].length = 0x7fffffff;
  write_file(index_path, encode_shard_index(index));
  const auto images = open_image_shards(shards_.str(), "val");
  std::vector<uint8_t> bytes;
  const std::string m = invalid_argument_message([&] { images->read(0, bytes); });
  EXPECT_TRUE(contains(m, "truncated shard (the record of 2147483647 bytes at offset")) << m;
  EXPECT_LT(bytes.capacity(), size_t{1} << 20);
}

TEST(ImagePack, SkipsBadImagesWhenAskedAndFailsOtherwise) {
  TempDir tree, out;
  write_tree(tree.str(), TreeSpec{{"a", "b"}, 3, 1});
  write_file(tree.file("train/b/img1.jpg"), {'x'});
  const std::string m = invalid_argument_message([&] { pack_image_folder(tree.str(), out.str(), PackOptions{}); });
  EXPECT_TRUE(contains(m, tree.file("train/b/img1.jpg") + ": not a readable JPEG")) << m;
  PackOptions o;
  std::vector<std::string> lines;
  o.skip_bad_images = true;
  o.log = [&](const std::string& line) { lines.push_back(line); };
  const PackSummary s = pack_image_folder(tree.str(), out.str(), o);
  EXPECT_EQ(s.skipped, 1);
  EXPECT_EQ(s.records, 5 + 2);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(contains(lines[0], "img1.jpg") && contains(lines[0], "skipped")) << lines[0];
  EXPECT_EQ(open_image_shards(out.str(), "train")->size(), 5);
}

TEST(ImagePack, ValidatesEachImageByDecodingItAsTrainingWill) {
  TempDir tree, out;
  write_tree(tree.str(), TreeSpec{{"a", "b"}, 3, 1});
  // Headers intact, data cut: plainly truncated, and cut then closed with an end-of-image marker.
  const std::string cut = tree.file("train/a/img1.jpg"), closed = tree.file("train/b/img2.jpg");
  std::vector<uint8_t> bytes = read_file(cut);
  bytes.resize(bytes.size() * 3 / 4);
  write_file(cut, bytes);
  bytes = read_file(closed);
  bytes.resize(bytes.size() * 3 / 4);
  bytes.insert(bytes.end(), {0xFF, 0xD9});
  write_file(closed, bytes);
  const std::string m = invalid_argument_message([&] { pack_image_folder(tree.str(), out.str(), PackOptions{}); });
  EXPECT_TRUE(contains(m, cut + ": corrupt JPEG: the data ends before the end-of-image marker")) << m;
  PackOptions o;
  std::vector<std::string> lines;
  o.skip_bad_images = true;
  o.log = [&](const std::string& line) { lines.push_back(line); };
  const PackSummary s = pack_image_folder(tree.str(), out.str(), o);
  EXPECT_EQ(s.skipped, 2);
  EXPECT_EQ(s.records, 4 + 2);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_TRUE(contains(lines[0], cut) && contains(lines[0], "skipped")) << lines[0];
  EXPECT_TRUE(contains(lines[1], closed + ": corrupt JPEG: its data ends before")) << lines[1];
}

TEST(ImagePack, ImageOverThePixelBudgetIsABadImage) {
  TempDir tree, out;
  write_tree(tree.str(), TreeSpec{{"a", "b"}, 3, 1});
  const std::string bomb = tree.file("train/a/img0.jpg");
  write_file(bomb, testing::with_claimed_size(read_file(bomb), 60000, 60000));
  const std::string m = invalid_argument_message([&] { pack_image_folder(tree.str(), out.str(), PackOptions{}); });
  EXPECT_TRUE(contains(m, bomb + ": JPEG header claims 60000x60000")) << m;
  PackOptions o;
  o.skip_bad_images = true;
  EXPECT_EQ(pack_image_folder(tree.str(), out.str(), o).skipped, 1);
  o.max_image_pixels = 100;  // the budget is the option's: below the sound images' size
  const std::string none = invalid_argument_message([&] { pack_image_folder(tree.str(), out.str(), o); });
  EXPECT_TRUE(contains(none, "no image to pack")) << none;
}

}  // namespace
}  // namespace bigbatch::data
