// Atomic file replacement: the target holds either its old content or the whole new file.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace bigbatch {

// Writes the concatenation of `pieces` to "<path>.tmp.<pid>" beside path, fsyncs it, renames it
// over path and fsyncs the directory, so that after a crash path holds its old content or the
// whole new file, never a torn one. The temp file is removed on failure, and temp files of
// path left by writers that died ("<path>.tmp.<pid>" with no process <pid>) are removed before
// the write; a live process's are never touched. Throws Error
// "[<where>] <path>: ..." (e.g. where = "safetensors") naming the step that failed.
void write_file_atomic(const std::string& path, std::span<const std::span<const uint8_t>> pieces, const char* where);

// The same for one contiguous buffer.
inline void write_file_atomic(const std::string& path, std::span<const uint8_t> bytes, const char* where) {
  write_file_atomic(path, std::span<const std::span<const uint8_t>>(&bytes, 1), where);
}

// The same for text.
inline void write_file_atomic(const std::string& path, std::string_view text, const char* where) {
  write_file_atomic(path, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()), where);
}

}  // namespace bigbatch
