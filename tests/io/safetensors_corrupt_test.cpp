// Untrusted safetensors files: every kind of corruption is an InvalidArgument naming the
// file and the problem, never a crash (run under the address/undefined sanitizer presets).
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "bigbatch/core/error.h"
#include "bigbatch/io/safetensors.h"
#include "io/temp_dir.h"

namespace bigbatch::io {
namespace {

// Writes 8-byte length + header + buffer; length defaults to the header's true size.
void write_file(const std::string& path, const std::string& header, const std::string& buffer,
                uint64_t length = UINT64_MAX) {
  if (length == UINT64_MAX) length = header.size();
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(length >> (8 * i)));
  out << header << buffer;
}

// Reading path must throw InvalidArgument "[safetensors] <path>: ..." mentioning `what`.
void expect_corrupt(const std::string& path, const std::string& what) {
  try {
    SafetensorsFile::read(path);
    ADD_FAILURE() << "no error reading " << path;
  } catch (const InvalidArgument& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("[safetensors] " + path + ": ", 0), 0u) << message;
    EXPECT_NE(message.find(what), std::string::npos) << message;
  }
}

std::string tensor(const std::string& dtype, const std::string& shape, uint64_t begin, uint64_t end) {
  return "{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + std::to_string(begin) + "," +
         std::to_string(end) + "]}";
}

class SafetensorsCorrupt : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string path_ = dir_.file("bad.safetensors");
};

TEST_F(SafetensorsCorrupt, ValidFileReads) {  // the baseline the others break
  write_file(path_, "{\"a\":" + tensor("F32", "[2]", 0, 8) + "}", std::string(8, '\0'));
  EXPECT_EQ(SafetensorsFile::read(path_).names(), std::vector<std::string>{"a"});
}

TEST_F(SafetensorsCorrupt, MissingFile) { expect_corrupt(dir_.file("nope.safetensors"), "cannot open"); }

TEST_F(SafetensorsCorrupt, Directory) { expect_corrupt(dir_.path().string(), "not a regular file"); }

TEST_F(SafetensorsCorrupt, ShorterThanEightBytes) {
  std::ofstream(path_, std::ios::binary) << "abc";
  expect_corrupt(path_, "shorter than the 8-byte header length");
}

TEST_F(SafetensorsCorrupt, EmptyFile) {
  std::ofstream(path_, std::ios::binary).flush();
  expect_corrupt(path_, "file is 0 bytes");
}

TEST_F(SafetensorsCorrupt, HeaderLengthBeyondFile) {
  write_file(path_, "{}", "", 3);
  expect_corrupt(path_, "header length 3 exceeds the 2 bytes");
}

TEST_F(SafetensorsCorrupt, HeaderLengthAbsurd) {
  write_file(path_, "{}", "", UINT64_MAX - 1);
  expect_corrupt(path_, "exceeds 100000000");
}

TEST_F(SafetensorsCorrupt, InvalidJson) {
  write_file(path_, "{\"a\": [1, 2", "");
  expect_corrupt(path_, "not valid JSON");
}

TEST_F(SafetensorsCorrupt, BinaryGarbageHeader) {
  write_file(path_, std::string("\xff\xfe\0\x01{}", 6), "");
  expect_corrupt(path_, "not valid JSON");
}

TEST_F(SafetensorsCorrupt, DeeplyNestedJson) {
  write_file(path_, std::string(1'000'000, '[') + std::string(1'000'000, ']'), "");
  expect_corrupt(path_, "not a JSON object");
}

TEST_F(SafetensorsCorrupt, HeaderNotAnObject) {
  write_file(path_, "[1, 2, 3]", "");
  expect_corrupt(path_, "not a JSON object");
}

TEST_F(SafetensorsCorrupt, EntryNotAnObject) {
  write_file(path_, "{\"a\": 5}", "");
  expect_corrupt(path_, "tensor 'a': entry is not an object");
}

TEST_F(SafetensorsCorrupt, MissingDtype) {
  write_file(path_, "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", std::string(8, '\0'));
  expect_corrupt(path_, "tensor 'a': missing 'dtype'");
}

TEST_F(SafetensorsCorrupt, MissingShape) {
  write_file(path_, "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", std::string(8, '\0'));
  expect_corrupt(path_, "tensor 'a': missing 'shape'");
}

TEST_F(SafetensorsCorrupt, MissingDataOffsets) {
  write_file(path_, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", std::string(8, '\0'));
  expect_corrupt(path_, "tensor 'a': missing 'data_offsets'");
}

TEST_F(SafetensorsCorrupt, DtypeNotAString) {
  write_file(path_, "{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", std::string(8, '\0'));
  expect_corrupt(path_, "'dtype' is not a string");
}

TEST_F(SafetensorsCorrupt, UnknownDtype) {
  write_file(path_, "{\"a\":" + tensor("F33", "[2]", 0, 8) + "}", std::string(8, '\0'));
  expect_corrupt(path_, "unknown dtype 'F33'");
}

TEST_F(SafetensorsCorrupt, ShapeNotAnArray) {
  write_file(path_, "{\"a\":" + tensor("F32", "2", 0, 8) + "}", std::string(8, '\0'));
  expect_corrupt(path_, "'shape' is not an array");
}

TEST_F(SafetensorsCorrupt, NegativeExtent) {
  write_file(path_, "{\"a\":" + tensor("F32", "[-2]", 0, 8) + "}", std::string(8, '\0'));
  expect_corrupt(path_, "shape extent -2 is not a non-negative integer");
}

TEST_F(SafetensorsCorrupt, FractionalExtent) {
  write_file(path_, "{\"a\":" + tensor("F32", "[2.5]", 0, 8) + "}", std::string(8, '\0'));
  expect_corrupt(path_, "is not a non-negative integer");
}

TEST_F(SafetensorsCorrupt, ShapeProductOverflows) {  // 2^32 * 2^32 wraps to 0 in 64 bits
  write_file(path_, "{\"a\":" + tensor("F32", "[4294967296,4294967296]", 0, 0) + "}", "");
  expect_corrupt(path_, "has too many elements");
}

TEST_F(SafetensorsCorrupt, ShapeOverflowsHiddenBehindZero) {  // numel 0, but Shape::numel would overflow
  write_file(path_, "{\"a\":" + tensor("F32", "[4294967296,4294967296,0]", 0, 0) + "}", "");
  expect_corrupt(path_, "has too many elements");
}

TEST_F(SafetensorsCorrupt, ByteCountOverflows) {  // numel fits int64, numel * 8 does not fit uint64
  write_file(path_, "{\"a\":" + tensor("F64", "[1152921504606846976,4]", 0, 0) + "}", "");
  expect_corrupt(path_, "has too many bytes");
}

TEST_F(SafetensorsCorrupt, ExtentBeyondUint64) {
  write_file(path_, "{\"a\":" + tensor("F32", "[99999999999999999999999]", 0, 0) + "}", "");
  expect_corrupt(path_, "is not a non-negative integer");
}

TEST_F(SafetensorsCorrupt, DataOffsetsNotAPair) {
  write_file(path_, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", std::string(8, '\0'));
  expect_corrupt(path_, "'data_offsets' is not [begin, end]");
}

TEST_F(SafetensorsCorrupt, DataOffsetsNegative) {
  write_file(path_, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", std::string(8, '\0'));
  expect_corrupt(path_, "'data_offsets' is not [begin, end]");
}

TEST_F(SafetensorsCorrupt, DataOffsetsOutOfRange) {
  write_file(path_, "{\"a\":" + tensor("F32", "[2]", 4, 12) + "}", std::string(8, '\0'));
  expect_corrupt(path_, "data_offsets [4, 12] out of range of the 8-byte data buffer");
}

TEST_F(SafetensorsCorrupt, DataOffsetsHuge) {  // begin + size would wrap around
  write_file(path_, "{\"a\":" + tensor("U8", "[16]", 18446744073709551608ull, 8) + "}", std::string(8, '\0'));
  expect_corrupt(path_, "out of range");
}

TEST_F(SafetensorsCorrupt, DataOffsetsReversed) {
  write_file(path_, "{\"a\":" + tensor("F32", "[2]", 8, 0) + "}", std::string(8, '\0'));
  expect_corrupt(path_, "out of range");
}

TEST_F(SafetensorsCorrupt, SizeNotMatchingDtypeTimesShape) {
  write_file(path_, "{\"a\":" + tensor("F32", "[3]", 0, 8) + "}", std::string(8, '\0'));
  expect_corrupt(path_, "F32 [3] needs 12 bytes, data_offsets give 8");
}

TEST_F(SafetensorsCorrupt, Overlapping) {
  write_file(path_, "{\"a\":" + tensor("F32", "[2]", 0, 8) + ",\"b\":" + tensor("F32", "[2]", 4, 12) + "}",
             std::string(12, '\0'));
  expect_corrupt(path_, "tensors 'a' and 'b' overlap at byte 4");
}

TEST_F(SafetensorsCorrupt, SameRangeTwice) {
  write_file(path_, "{\"a\":" + tensor("F32", "[2]", 0, 8) + ",\"b\":" + tensor("F32", "[2]", 0, 8) + "}",
             std::string(8, '\0'));
  expect_corrupt(path_, "overlap at byte 0");
}

TEST_F(SafetensorsCorrupt, GapBetweenTensors) {
  write_file(path_, "{\"a\":" + tensor("F32", "[1]", 0, 4) + ",\"b\":" + tensor("F32", "[1]", 8, 12) + "}",
             std::string(12, '\0'));
  expect_corrupt(path_, "bytes [4, 8) of the data buffer belong to no tensor");
}

TEST_F(SafetensorsCorrupt, TrailingBytes) {
  write_file(path_, "{\"a\":" + tensor("F32", "[2]", 0, 8) + "}", std::string(11, '\0'));
  expect_corrupt(path_, "3 trailing bytes after the last tensor");
}

TEST_F(SafetensorsCorrupt, MetadataNotAnObject) {
  write_file(path_, "{\"__metadata__\":[\"x\"]}", "");
  expect_corrupt(path_, "'__metadata__' is not an object");
}

TEST_F(SafetensorsCorrupt, MetadataValueNotAString) {
  write_file(path_, "{\"__metadata__\":{\"epoch\":3}}", "");
  expect_corrupt(path_, "metadata 'epoch' is not a string");
}

// Cut a valid file at every length: each prefix is an error, never a crash.
TEST_F(SafetensorsCorrupt, EveryTruncationIsAnError) {
  const float values[3] = {1, 2, 3};
  SafetensorsWriter writer;
  writer.add("a", "F32", {3}, values, sizeof(values));
  writer.set_metadata("k", "v");
  writer.write_atomic(path_);
  std::ifstream in(path_, std::ios::binary);
  const std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t n = 0; n < whole.size(); ++n) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << whole.substr(0, n);
    EXPECT_THROW(SafetensorsFile::read(path_), InvalidArgument) << "prefix of " << n << " bytes";
  }
}

}  // namespace
}  // namespace bigbatch::io
