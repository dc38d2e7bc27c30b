// CIFAR-10/100 binary readers on small files the test writes, and their malformed cases.
#include "bigbatch/data/cifar.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "data/test_files.h"

namespace bigbatch::data {
namespace {

using testing::invalid_argument_message;
using testing::TempDir;
using testing::write_file;

// Records with the given label bytes; pixel p of record r is (r·31 + p) mod 256 offset by seed.
std::vector<uint8_t> records(const std::vector<std::vector<uint8_t>>& labels, int seed) {
  std::vector<uint8_t> out;
  for (size_t r = 0; r < labels.size(); ++r) {
    out.insert(out.end(), labels[r].begin(), labels[r].end());
    for (int64_t p = 0; p < kCifarImageBytes; ++p) out.push_back(static_cast<uint8_t>(seed + r * 31 + p));
  }
  return out;
}

void write_cifar10(const TempDir& dir) {
  for (int b = 1; b <= 5; ++b)
    write_file(dir.file("data_batch_" + std::to_string(b) + ".bin"), records({{uint8_t(b)}, {uint8_t(9 - b)}}, b));
  write_file(dir.file("test_batch.bin"), records({{7}, {0}, {9}}, 100));
}

TEST(Cifar, Cifar10TrainConcatenatesBatchesInOrder) {
  TempDir dir;
  write_cifar10(dir);
  const Dataset d = load_cifar10(dir.str(), true);
  ASSERT_EQ(d.size(), 10);
  EXPECT_EQ(d.channels, 3);
  EXPECT_EQ(d.height, 32);
  EXPECT_EQ(d.width, 32);
  EXPECT_EQ(d.num_classes, 10);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{1, 8, 2, 7, 3, 6, 4, 5, 5, 4}));
  for (int64_t i = 0; i < 10; ++i) {
    const int b = static_cast<int>(i / 2) + 1, r = static_cast<int>(i % 2);
    for (int64_t p : {int64_t{0}, int64_t{1023}, int64_t{1024}, int64_t{3071}})
      EXPECT_EQ(d.image(i)[p], static_cast<uint8_t>(b + r * 31 + p)) << "example " << i << " pixel " << p;
  }
  EXPECT_EQ(d.mean, (std::vector<float>{0.4914f, 0.4822f, 0.4465f}));
  EXPECT_EQ(d.stddev, (std::vector<float>{0.2470f, 0.2435f, 0.2616f}));

  const Dataset test = load_cifar10(dir.str(), false);
  EXPECT_EQ(test.labels, (std::vector<int32_t>{7, 0, 9}));
  EXPECT_EQ(test.image(2)[5], static_cast<uint8_t>(100 + 2 * 31 + 5));
}

TEST(Cifar, Cifar100FineAndCoarseLabels) {
  TempDir dir;
  write_file(dir.file("train.bin"), records({{19, 99}, {0, 42}, {7, 3}}, 5));
  const Dataset fine = load_cifar100(dir.str(), true);
  EXPECT_EQ(fine.num_classes, 100);
  EXPECT_EQ(fine.labels, (std::vector<int32_t>{99, 42, 3}));
  EXPECT_EQ(fine.image(1)[10], static_cast<uint8_t>(5 + 31 + 10));
  const Dataset coarse = load_cifar100(dir.str(), true, false);
  EXPECT_EQ(coarse.num_classes, 20);
  EXPECT_EQ(coarse.labels, (std::vector<int32_t>{19, 0, 7}));
}

TEST(Cifar, TruncatedRecord) {
  TempDir dir;
  write_cifar10(dir);
  const std::string path = dir.file("data_batch_3.bin");
  std::vector<uint8_t> bytes = records({{1}, {2}}, 3);
  bytes.pop_back();
  write_file(path, bytes);
  const std::string message = invalid_argument_message([&] { load_cifar10(dir.str(), true); });
  EXPECT_EQ(message,
            "[data:cifar] " + path +
                ": truncated: 6145 bytes is not a whole number of 3073-byte records (1 label + 3072 pixel bytes)");
}

TEST(Cifar, LabelOutOfRange) {
  TempDir dir;
  write_file(dir.file("train.bin"), records({{19, 99}, {20, 42}}, 5));
  load_cifar100(dir.str(), true);  // the fine labels are fine
  const std::string message = invalid_argument_message([&] { load_cifar100(dir.str(), true, false); });
  EXPECT_EQ(message, "[data:cifar] " + dir.file("train.bin") + ": label 20 of record 1 is outside [0, 20)");
}

TEST(Cifar, MissingFile) {
  TempDir dir;
  write_cifar10(dir);
  std::filesystem::remove(dir.file("data_batch_5.bin"));
  const std::string message = invalid_argument_message([&] { load_cifar10(dir.str(), true); });
  EXPECT_EQ(message, "[data:cifar] " + dir.file("data_batch_5.bin") + ": cannot open: No such file or directory");
}

}  // namespace
}  // namespace bigbatch::data
