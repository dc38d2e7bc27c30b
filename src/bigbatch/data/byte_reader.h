// Reads the bytes of a dataset file, plain or gzip-compressed (told by its first two bytes),
// with errors that name the file: "[data:idx] /path/file.gz: truncated: ...".
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

struct z_stream_s;  // zlib's inflate state; the header stays free of zlib.h

namespace bigbatch::data {

class ByteReader {
 public:
  // Opens path; `where` prefixes every message ("[data:idx]"). Throws InvalidArgument
  // "<where> <path>: cannot open: <reason>" when the file is missing or unreadable.
  ByteReader(std::string path, std::string where);
  ~ByteReader();
  ByteReader(const ByteReader&) = delete;
  ByteReader& operator=(const ByteReader&) = delete;

  // Fills out completely unless the data ends first; returns the number of bytes read.
  // Corrupt compressed data or a read error throws; a cut-short gzip stream just ends early.
  size_t read(std::span<uint8_t> out);
  // Up to count bytes (fewer only at the end), in a vector that grows as data arrives,
  // so that a header lying about its size cannot make us allocate what the file lacks.
  std::vector<uint8_t> read_up_to(uint64_t count);
  // Throws unless the data has ended cleanly: no trailing bytes and, for gzip, a complete
  // stream (the CRC and length trailer checked).
  void expect_end(const std::string& after);

  const std::string& path() const { return path_; }
  // Throws InvalidArgument "<where> <path>: <what>".
  [[noreturn]] void fail(const std::string& what) const;

 private:
  bool fill_input();  // refills the input buffer; false at the end of the file
  size_t read_plain(std::span<uint8_t> out);
  size_t read_gzip(std::span<uint8_t> out);

  std::string path_, where_;
  std::FILE* file_ = nullptr;
  std::vector<uint8_t> input_;  // raw file bytes, [input_begin_, input_end_) not yet used
  size_t input_begin_ = 0, input_end_ = 0;
  std::unique_ptr<z_stream_s> inflate_;  // set for gzip files
  bool stream_end_ = false;              // gzip: the last member ended with a valid trailer
};

// dir/name.gz if that file exists, else dir/name (so plain and gzipped copies both load).
std::string gz_or_plain(const std::string& dir, const std::string& name);

}  // namespace bigbatch::data
