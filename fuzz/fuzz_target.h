// What every fuzz target shares: the libFuzzer entry point's signature and a scratch folder
// for the readers that take a path. A target catches bigbatch::Error (the documented answer to
// bad input) and nothing else: a crash, a sanitizer report, std::bad_alloc or any other
// exception is a finding.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace bigbatch::fuzz {

// A folder of this process's own, made once and removed at exit: $BIGBATCH_FUZZ_TMP, else
// /dev/shm (files there cost no disk I/O), else the system temp folder.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base = std::filesystem::temp_directory_path();
    if (const char* env = std::getenv("BIGBATCH_FUZZ_TMP")) {
      base = env;
    } else if (std::filesystem::is_directory("/dev/shm")) {
      base = "/dev/shm";
    }
    std::filesystem::path d = base / ("bigbatch_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  static const struct Remover {
    ~Remover() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } remover;
  return dir;
}

// Writes bytes to scratch_dir()/name (replacing it) and returns the path; aborts if it cannot,
// since a target that silently tests nothing is worse than one that stops.
inline std::string write_scratch(const std::string& name, std::span<const uint8_t> bytes) {
  const std::string path = (scratch_dir() / name).string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) std::abort();
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return path;
}

// Little-endian u32 at p (the targets' own framing of two files in one input).
inline uint32_t le_u32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

// Splits an input framed as [u32 length of the first part][first part][second part]; a length
// past the end takes everything to the first part.
struct TwoParts {
  std::span<const uint8_t> first, second;
};
inline TwoParts split_input(const uint8_t* data, size_t size) {
  if (size < 4) return {{data, size}, {}};
  const size_t n = std::min<size_t>(le_u32(data), size - 4);
  return {{data + 4, n}, {data + 4 + n, size - 4 - n}};
}

}  // namespace bigbatch::fuzz
