// idx reader: round trips on small files the test writes (plain and gzipped), one test per
// malformed input, and the real Fashion-MNIST when Debian's package is installed.
#include "bigbatch/data/idx.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "data/test_files.h"

namespace bigbatch::data {
namespace {

using testing::invalid_argument_message;
using testing::TempDir;
using testing::write_file;

void put_u32(std::vector<uint8_t>& out, uint32_t x) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(x >> shift));
}

std::vector<uint8_t> idx_images(uint32_t n, uint32_t rows, uint32_t cols, uint32_t magic = 0x803) {
  std::vector<uint8_t> out;
  put_u32(out, magic);
  put_u32(out, n);
  put_u32(out, rows);
  put_u32(out, cols);
  for (uint32_t i = 0; i < n * rows * cols; ++i) out.push_back(static_cast<uint8_t>(i * 7 + 3));
  return out;
}

std::vector<uint8_t> idx_labels(const std::vector<uint8_t>& labels, uint32_t magic = 0x801) {
  std::vector<uint8_t> out;
  put_u32(out, magic);
  put_u32(out, static_cast<uint32_t>(labels.size()));
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

const std::vector<uint8_t> kLabels = {3, 0, 9, 1, 5};

// Writes a consistent 5-example, 3×4 split with the given prefix ("train" or "t10k").
void write_split(const TempDir& dir, const std::string& prefix, bool gzip) {
  const std::string ext = gzip ? ".gz" : "";
  write_file(dir.file(prefix + "-images-idx3-ubyte" + ext), idx_images(5, 3, 4), gzip);
  write_file(dir.file(prefix + "-labels-idx1-ubyte" + ext), idx_labels(kLabels), gzip);
}

void expect_split(const Dataset& d) {
  EXPECT_EQ(d.size(), 5);
  EXPECT_EQ(d.channels, 1);
  EXPECT_EQ(d.height, 3);
  EXPECT_EQ(d.width, 4);
  EXPECT_EQ(d.num_classes, 10);
  ASSERT_EQ(d.pixels.size(), 60u);
  for (size_t i = 0; i < 60; ++i) EXPECT_EQ(d.pixels[i], static_cast<uint8_t>(i * 7 + 3));
  EXPECT_EQ(d.labels, std::vector<int32_t>(kLabels.begin(), kLabels.end()));
  EXPECT_EQ(d.mean, std::vector<float>{kFashionMnistMean});
  EXPECT_EQ(d.stddev, std::vector<float>{kFashionMnistStd});
}

TEST(Idx, RoundTripPlain) {
  TempDir dir;
  write_split(dir, "train", false);
  expect_split(load_mnist(dir.str(), true));
}

TEST(Idx, RoundTripGzipped) {
  TempDir dir;
  write_split(dir, "t10k", true);
  expect_split(load_mnist(dir.str(), false));
}

TEST(Idx, WrongMagic) {
  TempDir dir;
  write_split(dir, "train", false);
  const std::string path = dir.file("train-images-idx3-ubyte");
  write_file(path, idx_images(5, 3, 4, 0x801));
  const std::string message = invalid_argument_message([&] { load_mnist(dir.str(), true); });
  EXPECT_EQ(message, "[data:idx] " + path + ": bad magic 0x00000801: expected 0x00000803 (idx3 ubyte images)");
}

TEST(Idx, TruncatedPixels) {
  TempDir dir;
  write_split(dir, "train", true);
  const std::string path = dir.file("train-images-idx3-ubyte.gz");
  std::vector<uint8_t> bytes = idx_images(5, 3, 4);
  bytes.resize(bytes.size() - 10);
  write_file(path, bytes, true);
  const std::string message = invalid_argument_message([&] { load_mnist(dir.str(), true); });
  EXPECT_EQ(message, "[data:idx] " + path + ": truncated: expected 60 bytes of pixels, found 50");
}

TEST(Idx, TruncatedGzipStream) {
  // A download cut short: the compressed file itself ends early.
  TempDir dir;
  write_split(dir, "train", true);
  const std::string path = dir.file("train-labels-idx1-ubyte.gz");
  std::vector<uint8_t> gz = testing::read_file(path);
  gz.resize(gz.size() - 6);
  write_file(path, gz);
  const std::string message = invalid_argument_message([&] { load_mnist(dir.str(), true); });
  EXPECT_EQ(message.rfind("[data:idx] " + path + ": truncated", 0), 0u) << message;
}

TEST(Idx, CorruptGzipStream) {
  TempDir dir;
  write_split(dir, "train", true);
  const std::string path = dir.file("train-images-idx3-ubyte.gz");
  std::vector<uint8_t> gz = testing::read_file(path);
  gz[gz.size() - 8] ^= 0xff;  // the CRC-32 in the gzip trailer
  write_file(path, gz);
  const std::string message = invalid_argument_message([&] { load_mnist(dir.str(), true); });
  EXPECT_EQ(message, "[data:idx] " + path + ": corrupt gzip data: incorrect data check");
}

TEST(Idx, TruncatedHeader) {
  TempDir dir;
  write_split(dir, "train", false);
  const std::string path = dir.file("train-images-idx3-ubyte");
  write_file(path, {0, 0, 8, 3, 0, 0});
  const std::string message = invalid_argument_message([&] { load_mnist(dir.str(), true); });
  EXPECT_EQ(message, "[data:idx] " + path + ": truncated: expected a 16-byte header, found 6");
}

TEST(Idx, TrailingData) {
  TempDir dir;
  write_split(dir, "train", false);
  const std::string path = dir.file("train-labels-idx1-ubyte");
  std::vector<uint8_t> bytes = idx_labels(kLabels);
  bytes.push_back(0);
  write_file(path, bytes);
  const std::string message = invalid_argument_message([&] { load_mnist(dir.str(), true); });
  EXPECT_EQ(message, "[data:idx] " + path + ": unexpected trailing data after 5 bytes of labels");
}

TEST(Idx, CountMismatch) {
  TempDir dir;
  write_split(dir, "train", false);
  const std::string path = dir.file("train-labels-idx1-ubyte");
  write_file(path, idx_labels({1, 2, 3, 4}));
  const std::string message = invalid_argument_message([&] { load_mnist(dir.str(), true); });
  EXPECT_EQ(message, "[data:idx] " + path + ": count mismatch: 4 labels but " + dir.file("train-images-idx3-ubyte") +
                         " holds 5 images");
}

TEST(Idx, LabelOutOfRange) {
  TempDir dir;
  write_split(dir, "train", false);
  const std::string path = dir.file("train-labels-idx1-ubyte");
  write_file(path, idx_labels({1, 2, 3, 12, 4}));
  const std::string message = invalid_argument_message([&] { load_mnist(dir.str(), true); });
  EXPECT_EQ(message, "[data:idx] " + path + ": label 12 of example 3 is outside [0, 10)");
}

TEST(Idx, MissingFile) {
  TempDir dir;
  write_split(dir, "train", false);
  std::filesystem::remove(dir.file("train-labels-idx1-ubyte"));
  const std::string message = invalid_argument_message([&] { load_mnist(dir.str(), true); });
  EXPECT_EQ(message, "[data:idx] " + dir.file("train-labels-idx1-ubyte") + ": cannot open: No such file or directory");
}

TEST(Idx, RealFashionMnist) {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed at " << kFashionMnistDir;
  const Dataset train = load_mnist(kFashionMnistDir, true);
  const Dataset test = load_mnist(kFashionMnistDir, false);
  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(train.height, 28);
  EXPECT_EQ(train.width, 28);
  std::vector<int> per_class(10, 0);
  for (int32_t label : train.labels) ++per_class[static_cast<size_t>(label)];
  for (int count : per_class) EXPECT_EQ(count, 6000);
  // The default normalisation is this data's own statistics.
  Dataset stats = train;
  compute_normalization(stats);
  EXPECT_NEAR(stats.mean[0], kFashionMnistMean, 5e-4);
  EXPECT_NEAR(stats.stddev[0], kFashionMnistStd, 5e-4);
}

}  // namespace
}  // namespace bigbatch::data
