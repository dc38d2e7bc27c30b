// safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length, a JSON header naming each tensor's dtype, shape and byte range, then the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bigbatch/core/dtype.h"
#include "bigbatch/core/shape.h"

namespace bigbatch::io {

// Headers longer than this are refused as corrupt (the Rust reference uses the same bound).
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Bytes per element of a safetensors dtype name ("F32", "BF16", "I64", ...); 0 when unknown.
size_t safetensors_dtype_size(const std::string& dtype);
// The safetensors name of a core dtype: "F32", "BF16", "F16".
const char* safetensors_dtype_name(DType dtype);

// One tensor as the header describes it. begin/end are byte offsets into the data
// buffer (which starts right after the header), end - begin == numel * dtype size.
struct TensorInfo {
  std::string dtype;  // safetensors name, e.g. "F32"
  Shape shape;        // row-major, outermost first; [] is a scalar (numel 1)
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t nbytes() const { return end - begin; }
};

// Collects tensors (copying their bytes) and writes them as one file, atomically.
// Data is laid out by decreasing element size, then by name, so every tensor is
// aligned to its element size in the file (as the Rust reference does).
class SafetensorsWriter {
 public:
  // data holds nbytes == numel(shape) * size(dtype) bytes, row-major, little-endian.
  // Throws InvalidArgument on an unknown dtype, a size mismatch or a duplicate name.
  void add(const std::string& name, const std::string& dtype, const Shape& shape, const void* data, size_t nbytes);
  void set_metadata(const std::string& key, const std::string& value);
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }

  // Writes path + ".tmp.<pid>", fsyncs it, renames it over path and fsyncs the
  // directory: path holds either its old content or the whole new file, never a
  // torn one. Throws Error on an I/O failure (the temp file is removed).
  void write_atomic(const std::string& path) const;

 private:
  struct Entry {
    std::string dtype;
    Shape shape;
    std::vector<uint8_t> bytes;
  };
  std::map<std::string, Entry> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A whole safetensors file read into memory and validated. The file is untrusted:
// any malformation throws InvalidArgument "[safetensors] <path>: <what is wrong>".
class SafetensorsFile {
 public:
  static SafetensorsFile read(const std::string& path);

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // throws InvalidArgument when absent

  // Converts the tensor to f32 into dst (numel(expected) floats). Its shape must equal
  // expected. Reads F32, F64, BF16, F16, I64 and I32 (integers beyond 2^24 round).
  void read_f32(const std::string& name, float* dst, const Shape& expected) const;
  // The tensor's bytes as stored: little-endian, row-major, not necessarily aligned.
  std::span<const uint8_t> raw(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  std::unique_ptr<uint8_t[]> file_;  // the whole file
  size_t data_start_ = 0;            // where the data buffer starts in file_
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace bigbatch::io
