// The JPEG source: normalised output whatever the thread count, the evaluation transform,
// --skip-bad-images (deterministic substitution, one log line per file), and the task pool.
#include "bigbatch/data/jpeg_source.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>

#include "bigbatch/data/image_folder.h"
#include "bigbatch/data/task_pool.h"
#include "data/jpeg_tree.h"

namespace bigbatch::data {
namespace {

using testing::invalid_argument_message;
using testing::read_file;
using testing::TempDir;
using testing::TreeSpec;
using testing::with_claimed_size;
using testing::write_file;
using testing::write_tree;

std::vector<int64_t> iota_indices(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  return v;
}

TEST(JpegSource, OutputDoesNotDependOnTheThreadCount) {
  TempDir dir;
  write_tree(dir.str(), TreeSpec{{"a", "b", "c"}, 6, 1});
  JpegSourceOptions o;
  o.transform.size = 20;
  JpegSource source(open_image_folder(dir.str(), "train"), o);
  EXPECT_EQ(source.num_classes(), 3);
  EXPECT_EQ(source.example_shape().numel(), 3 * 20 * 20);
  const std::vector<int64_t> indices = {17, 3, 3, 0, 9, 12, 5};  // any order, repeats allowed
  const size_t numel = static_cast<size_t>(source.example_shape().numel());
  std::vector<float> one(indices.size() * numel), many(indices.size() * numel);
  std::vector<int32_t> la(indices.size()), lb(indices.size());
  write_batch(source, nullptr, Transform::train, 4, indices, one, la);
  TaskPool pool(3);
  write_batch(source, &pool, Transform::train, 4, indices, many, lb);
  EXPECT_EQ(la, lb);
  EXPECT_EQ(la, (std::vector<int32_t>{2, 0, 0, 0, 1, 2, 0}));
  EXPECT_EQ(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)), 0);
  // Repeated examples are identical (same seed), other epochs differ.
  EXPECT_EQ(std::memcmp(one.data() + numel, one.data() + 2 * numel, numel * sizeof(float)), 0);
  write_batch(source, &pool, Transform::train, 5, indices, many, lb);
  EXPECT_NE(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)), 0);
  // Normalised values of 8-bit pixels: within [(0 − 0.485)/0.229, (1 − 0.406)/0.225].
  for (float v : one) {
    ASSERT_GE(v, -2.2f);
    ASSERT_LE(v, 2.7f);
  }
}

TEST(JpegSource, EvalTransformIsDeterministicAndIgnoresTheEpoch) {
  TempDir dir;
  write_tree(dir.str(), TreeSpec{{"a", "b"}, 2, 2});
  JpegSourceOptions o;
  o.transform.size = 16;
  JpegSource source(open_image_folder(dir.str(), "val"), o);
  const std::vector<int64_t> indices = iota_indices(source.size());
  std::vector<float> a(indices.size() * 3 * 16 * 16), b(a.size());
  std::vector<int32_t> la(indices.size()), lb(indices.size());
  source.write(Transform::eval, 0, indices, a, la);
  source.write(Transform::eval, 7, indices, b, lb);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  // augment=false: the training split goes through the evaluation transform too.
  o.augment = false;
  JpegSource plain(open_image_folder(dir.str(), "val"), o);
  plain.write(Transform::train, 3, indices, b, lb);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

TEST(JpegSource, SkipBadImagesSubstitutesTheNextReadableExampleAndLogsOnce) {
  TempDir dir;
  write_tree(dir.str(), TreeSpec{{"a", "b"}, 3, 1});  // train: a/img0..2 (0..2), b/img0..2 (3..5)
  write_file(dir.file("train/a/img2.jpg"), {'b', 'a', 'd'});
  std::mutex mutex;
  std::vector<std::string> lines;
  JpegSourceOptions o;
  o.transform.size = 16;
  o.skip_bad_images = true;
  o.log = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex);
    lines.push_back(line);
  };
  JpegSource source(open_image_folder(dir.str(), "train"), o);
  const size_t numel = 3 * 16 * 16;
  std::vector<float> got(2 * numel), direct(numel);
  std::vector<int32_t> labels(2), label(1);
  TaskPool pool(2);
  const std::vector<int64_t> twice = {2, 2};
  for (int read = 0; read < 3; ++read) write_batch(source, &pool, Transform::train, 0, twice, got, labels);
  ASSERT_EQ(lines.size(), 1u);  // once per file, not once per read
  EXPECT_NE(lines[0].find(dir.file("train/a/img2.jpg")), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("skipped"), std::string::npos) << lines[0];
  // Example 2 became example 3 (the next one, of class b) under example 2's crop draws.
  EXPECT_EQ(labels, (std::vector<int32_t>{1, 1}));
  EXPECT_EQ(std::memcmp(got.data(), got.data() + numel, numel * sizeof(float)), 0);
  const int64_t three[1] = {3};
  source.write(Transform::train, 0, three, direct, label);
  EXPECT_NE(std::memcmp(got.data(), direct.data(), numel * sizeof(float)), 0);  // not example 3's own crop
  // A fresh source (another run) substitutes the same way.
  JpegSource again(open_image_folder(dir.str(), "train"), o);
  std::vector<float> again_out(2 * numel);
  again.write(Transform::train, 0, twice, again_out, labels);
  EXPECT_EQ(std::memcmp(got.data(), again_out.data(), got.size() * sizeof(float)), 0);
  EXPECT_EQ(lines.size(), 2u);  // the new source logs the file once too
  // Without the option, the same file is an error naming it.
  o.skip_bad_images = false;
  JpegSource strict(open_image_folder(dir.str(), "train"), o);
  const int64_t two[1] = {2};
  const std::string m = invalid_argument_message([&] { strict.write(Transform::train, 0, two, direct, label); });
  EXPECT_NE(m.find("[data:imagefolder] " + dir.file("train/a/img2.jpg")), std::string::npos) << m;
}

TEST(JpegSource, SkipBadImagesWrapsAroundAndFailsWhenNothingIsReadable) {
  TempDir dir;
  write_tree(dir.str(), TreeSpec{{"a"}, 2, 1});
  write_file(dir.file("train/a/img1.jpg"), {'x'});
  JpegSourceOptions o;
  o.transform.size = 8;
  o.skip_bad_images = true;
  o.log = [](const std::string&) {};
  std::vector<float> dst(3 * 8 * 8);
  std::vector<int32_t> label(1);
  {
    JpegSource source(open_image_folder(dir.str(), "train"), o);
    const int64_t last[1] = {1};
    source.write(Transform::train, 0, last, dst, label);  // replaced by example 0
    EXPECT_EQ(label[0], 0);
  }
  write_file(dir.file("train/a/img0.jpg"), {'y'});
  JpegSource none(open_image_folder(dir.str(), "train"), o);
  const int64_t first[1] = {0};
  const std::string m = invalid_argument_message([&] { none.write(Transform::train, 0, first, dst, label); });
  EXPECT_NE(m.find("every image is unreadable"), std::string::npos) << m;
}

TEST(JpegSource, ImageOverThePixelBudgetIsABadImage) {
  TempDir dir;
  write_tree(dir.str(), TreeSpec{{"a"}, 2, 1});
  const std::string bomb = dir.file("train/a/img1.jpg");
  write_file(bomb, with_claimed_size(read_file(bomb), 60000, 60000));
  JpegSourceOptions o;
  o.transform.size = 8;
  std::vector<std::string> lines;
  o.log = [&](const std::string& line) { lines.push_back(line); };
  std::vector<float> dst(3 * 8 * 8);
  std::vector<int32_t> label(1);
  const int64_t second[1] = {1};
  JpegSource strict(open_image_folder(dir.str(), "train"), o);
  const std::string m = invalid_argument_message([&] { strict.write(Transform::train, 0, second, dst, label); });
  EXPECT_NE(m.find(bomb + ": JPEG header claims 60000x60000 = 3600000000 pixels, over the limit of 89478485"),
            std::string::npos)
      << m;
  o.skip_bad_images = true;
  JpegSource skipping(open_image_folder(dir.str(), "train"), o);
  skipping.write(Transform::train, 0, second, dst, label);  // replaced by example 0
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(bomb + ": JPEG header claims 60000x60000"), std::string::npos) << lines[0];
  // The budget is the option's: below the sound images' size every image is bad.
  o.max_image_pixels = 100;
  JpegSource tiny(open_image_folder(dir.str(), "train"), o);
  EXPECT_NE(invalid_argument_message([&] {
              tiny.write(Transform::train, 0, second, dst, label);
            }).find("every image is unreadable"),
            std::string::npos);
  EXPECT_NE(lines.back().find("over the limit of 100"), std::string::npos) << lines.back();
}

TEST(TaskPool, RunsEveryTaskOnceAndReportsTheLowestFailure) {
  TaskPool pool(3);
  EXPECT_EQ(pool.threads(), 3);
  std::vector<std::atomic<int>> runs(1000);
  pool.parallel_for(1000, [&](int64_t i) { runs[static_cast<size_t>(i)].fetch_add(1); });
  for (const auto& r : runs) ASSERT_EQ(r.load(), 1);
  for (int trial = 0; trial < 20; ++trial) {
    try {
      pool.parallel_for(200, [&](int64_t i) {
        if (i == 150 || i == 37 || i == 90) BIGBATCH_THROW(InvalidArgument, "task " << i);
      });
      ADD_FAILURE() << "expected an exception";
    } catch (const InvalidArgument& e) {
      ASSERT_STREQ(e.what(), "task 37");
    }
  }
  // Two callers at once (the loader and the evaluator share a pool).
  std::atomic<int64_t> sum{0};
  std::thread other([&] { pool.parallel_for(500, [&](int64_t i) { sum += i; }); });
  pool.parallel_for(500, [&](int64_t i) { sum += i; });
  other.join();
  EXPECT_EQ(sum.load(), 2 * 499 * 500 / 2);
  EXPECT_THROW(TaskPool(0), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::data
