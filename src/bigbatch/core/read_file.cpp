#include "bigbatch/core/read_file.h"

#include <fstream>
#include <sstream>

#include "bigbatch/core/error.h"

namespace bigbatch {

std::string read_file(const std::string& path, const char* where) {
  std::ifstream in(path, std::ios::binary);
  BIGBATCH_CHECK(in.good(), "[" << where << "] " << path << ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  BIGBATCH_CHECK(!in.bad(), "[" << where << "] " << path << ": cannot read");
  return text.str();
}

}  // namespace bigbatch
