// safetensors writer and reader: round trips, the exact byte layout, atomic replacement.
#include "bigbatch/io/safetensors.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "bigbatch/core/error.h"
#include "io/temp_dir.h"

namespace bigbatch::io {
namespace {

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> files_in(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Safetensors, RoundTripsDtypesShapesAndMetadata) {
  TempDir dir;
  const std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, -7.0f};
  std::vector<uint16_t> bf16;
  for (float x : f32) bf16.push_back(f32_to_bf16(x));
  const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x3800, 0x0001, 0x7c00, 0x0000};  // 1 -2 .5 2^-24 inf 0
  const int64_t count = 12345;
  const std::vector<uint8_t> u8 = {1, 2, 3};
  const std::vector<double> f64 = {0.25, -1e300};

  SafetensorsWriter writer;
  writer.add("a.f32", "F32", {2, 3}, f32.data(), f32.size() * 4);
  writer.add("b.bf16", "BF16", {3, 2}, bf16.data(), bf16.size() * 2);
  writer.add("c.f16", "F16", {6}, f16.data(), f16.size() * 2);
  writer.add("d.count", "I64", {}, &count, sizeof(count));
  writer.add("e.u8", "U8", {3}, u8.data(), u8.size());
  writer.add("f.empty", "F32", {0, 4}, nullptr, 0);
  writer.add("g.f64", "F64", {2}, f64.data(), 16);
  writer.set_metadata("format", "pt");
  writer.set_metadata("epoch", "7");
  const std::string path = dir.file("x.safetensors");
  writer.write_atomic(path);

  SafetensorsFile file = SafetensorsFile::read(path);
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.names(), (std::vector<std::string>{"a.f32", "b.bf16", "c.f16", "d.count", "e.u8", "f.empty", "g.f64"}));
  EXPECT_TRUE(file.contains("a.f32"));
  EXPECT_FALSE(file.contains("zzz"));
  EXPECT_THROW(file.info("zzz"), InvalidArgument);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.metadata().at("epoch"), "7");
  EXPECT_EQ(file.info("b.bf16").dtype, "BF16");
  EXPECT_EQ(file.info("b.bf16").shape, Shape({3, 2}));
  EXPECT_EQ(file.info("d.count").shape, Shape{});

  std::vector<float> out(6);
  file.read_f32("a.f32", out.data(), {2, 3});
  EXPECT_EQ(out, f32);
  file.read_f32("b.bf16", out.data(), {3, 2});
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(out[i], bf16_to_f32(bf16[i]));
  file.read_f32("c.f16", out.data(), {6});
  EXPECT_EQ(out, (std::vector<float>{1.0f, -2.0f, 0.5f, 0x1p-24f, INFINITY, 0.0f}));
  float scalar = 0;
  file.read_f32("d.count", &scalar, {});
  EXPECT_EQ(scalar, 12345.0f);
  file.read_f32("g.f64", out.data(), {2});
  EXPECT_EQ(out[0], 0.25f);
  EXPECT_EQ(out[1], -INFINITY);
  file.read_f32("f.empty", nullptr, {0, 4});

  auto raw = file.raw("e.u8");
  EXPECT_EQ(std::vector<uint8_t>(raw.begin(), raw.end()), u8);
  EXPECT_EQ(file.raw("f.empty").size(), 0u);
  EXPECT_THROW(file.read_f32("a.f32", out.data(), {3, 2}), InvalidArgument);  // wrong shape
  EXPECT_THROW(file.read_f32("e.u8", out.data(), {3}), InvalidArgument);      // not convertible
}

TEST(Safetensors, LayoutIsTheReferenceFormat) {
  TempDir dir;
  const float x = 2.0f;
  const uint16_t h = 0x3c00;
  const int64_t n = 5;
  SafetensorsWriter writer;
  writer.add("h", "F16", {1}, &h, 2);
  writer.add("x", "F32", {1}, &x, 4);
  writer.add("n", "I64", {}, &n, 8);
  const std::string path = dir.file("x.safetensors");
  writer.write_atomic(path);

  std::vector<uint8_t> bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<uint64_t>(bytes[static_cast<size_t>(i)]) << (8 * i);
  EXPECT_EQ(header_size % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + header_size + 14);
  const std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<ptrdiff_t>(header_size));
  EXPECT_NE(header.find("\"n\":{\"data_offsets\":[0,8],\"dtype\":\"I64\",\"shape\":[]}"), std::string::npos) << header;
  EXPECT_NE(header.find("\"x\":{\"data_offsets\":[8,12],\"dtype\":\"F32\",\"shape\":[1]}"), std::string::npos);
  EXPECT_NE(header.find("\"h\":{\"data_offsets\":[12,14],\"dtype\":\"F16\",\"shape\":[1]}"), std::string::npos);
  EXPECT_EQ(header.find("__metadata__"), std::string::npos);  // only written when set
  EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}'));  // padded with spaces
  EXPECT_EQ(bytes[8 + header_size], 5);
}

TEST(Safetensors, WriterRejectsBadTensors) {
  SafetensorsWriter writer;
  const float x[2] = {1, 2};
  EXPECT_THROW(writer.add("x", "F32", {3}, x, 8), InvalidArgument);  // size mismatch
  EXPECT_THROW(writer.add("x", "F31", {2}, x, 8), InvalidArgument);  // unknown dtype
  EXPECT_THROW(writer.add("__metadata__", "F32", {2}, x, 8), InvalidArgument);
  EXPECT_THROW(writer.add("bad\xff", "F32", {2}, x, 8), InvalidArgument);  // not UTF-8
  EXPECT_THROW(writer.add("x", "F32", {-1}, x, 8), InvalidArgument);
  writer.add("x", "F32", {2}, x, 8);
  EXPECT_THROW(writer.add("x", "F32", {2}, x, 8), InvalidArgument);  // duplicate
}

TEST(SafetensorsAtomic, ReplacesAndLeavesNoTempFile) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  for (float value : {1.0f, 2.0f}) {
    SafetensorsWriter writer;
    writer.add("w", "F32", {1}, &value, 4);
    writer.write_atomic(path);
    float got = 0;
    SafetensorsFile::read(path).read_f32("w", &got, {1});
    EXPECT_EQ(got, value);
  }
  EXPECT_EQ(files_in(dir.path()), std::vector<std::string>{"ckpt.safetensors"});
}

TEST(SafetensorsAtomic, UnwritableDirectoryKeepsExistingFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  float value = 1.0f;
  SafetensorsWriter writer;
  writer.add("w", "F32", {1}, &value, 4);
  writer.write_atomic(path);
  const std::vector<uint8_t> before = read_bytes(path);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0555), 0);
  value = 2.0f;
  SafetensorsWriter second;
  second.add("w", "F32", {1}, &value, 4);
  EXPECT_THROW(second.write_atomic(path), Error);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(files_in(dir.path()), std::vector<std::string>{"ckpt.safetensors"});
}

// A write that fails half-way (the disk "fills up": RLIMIT_FSIZE, in a child so the limit
// stays there) must leave the old file whole and no temp file behind. Works as root too.
TEST(SafetensorsAtomic, FailedWriteKeepsExistingFile) {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  const float value = 1.0f;
  SafetensorsWriter small;
  small.add("w", "F32", {1}, &value, 4);
  small.write_atomic(path);
  const std::vector<uint8_t> before = read_bytes(path);

  std::vector<float> big(1 << 16, 3.0f);
  SafetensorsWriter writer;
  writer.add("w", "F32", {static_cast<int64_t>(big.size())}, big.data(), big.size() * 4);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    int code = 1;
    try {
      writer.write_atomic(path);
    } catch (const Error& e) {
      code = std::strstr(e.what(), path.c_str()) ? 0 : 2;
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(files_in(dir.path()), std::vector<std::string>{"ckpt.safetensors"});
}

// rename() fails when path is a non-empty directory: the temp file must be removed.
TEST(SafetensorsAtomic, FailedRenameLeavesNoTempFile) {
  TempDir dir;
  const std::string path = dir.file("taken");
  std::filesystem::create_directories(dir.path() / "taken" / "inside");
  const float value = 1.0f;
  SafetensorsWriter writer;
  writer.add("w", "F32", {1}, &value, 4);
  EXPECT_THROW(writer.write_atomic(path), Error);
  EXPECT_EQ(files_in(dir.path()), std::vector<std::string>{"taken"});
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "taken" / "inside"));
}

}  // namespace
}  // namespace bigbatch::io
