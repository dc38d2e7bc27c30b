// write_file_atomic: writes and replaces whole files, leaves no temp file (and removes those of dead
// writers), and names the path on error.
#include "bigbatch/core/atomic_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bigbatch/core/error.h"
#include "io/temp_dir.h"

namespace bigbatch {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int count_files(const fs::path& dir) {
  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++files;
  return files;
}

TEST(AtomicFile, WritesAndReplacesLeavingNoTempFile) {
  io::TempDir dir;
  const std::string path = dir.file("a.bin");
  const std::vector<uint8_t> first = {1, 2, 3, 4, 5};
  write_file_atomic(path, first, "test");
  EXPECT_EQ(read_bytes(path), first);

  // Pieces are concatenated in order; the new file replaces the longer old one entirely.
  const std::vector<uint8_t> head = {9, 8}, tail = {7};
  const std::span<const uint8_t> pieces[] = {head, {}, tail};
  write_file_atomic(path, pieces, "test");
  EXPECT_EQ(read_bytes(path), (std::vector<uint8_t>{9, 8, 7}));
  EXPECT_EQ(count_files(dir.path()), 1) << "the temp file was left behind";
}

TEST(AtomicFile, ErrorNamesThePathAndLeavesNothing) {
  io::TempDir dir;
  const std::string path = (dir.path() / "missing" / "b.bin").string();
  try {
    write_file_atomic(path, std::vector<uint8_t>{1}, "test");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[test] " + path + ": cannot create"), std::string::npos) << e.what();
  }
  EXPECT_EQ(count_files(dir.path()), 0);
}

// A pid that names no process: a child that has exited and been reaped.
pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  EXPECT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  return child;
}

TEST(AtomicFile, RemovesTempFilesOfDeadWritersOnly) {
  io::TempDir dir;
  const std::string path = dir.file("last.safetensors");
  const pid_t dead = dead_pid();
  ASSERT_EQ(::kill(dead, 0), -1);
  ASSERT_EQ(errno, ESRCH);
  const std::string stale = path + ".tmp." + std::to_string(dead);
  const std::string live = path + ".tmp." + std::to_string(::getppid());        // the test runner: alive
  const std::string other = dir.file("other.bin.tmp." + std::to_string(dead));  // another file's
  const std::string odd = path + ".tmp.-1", text = path + ".tmp.12ab";          // not a pid
  for (const std::string& f : {stale, live, other, odd, text}) std::ofstream(f) << "partial";
  write_file_atomic(path, std::vector<uint8_t>{1, 2, 3}, "test");
  EXPECT_EQ(read_bytes(path), (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_FALSE(fs::exists(stale)) << "a dead writer's temp file stays";
  EXPECT_TRUE(fs::exists(live)) << "a live process's temp file was removed";
  EXPECT_TRUE(fs::exists(other));
  EXPECT_TRUE(fs::exists(odd));
  EXPECT_TRUE(fs::exists(text));
}

}  // namespace
}  // namespace bigbatch
