// Reading a whole file into memory, with the one error line every reader of small text files
// (configs, profiles, run records) gives.
#pragma once

#include <string>

namespace bigbatch {

// The bytes of path. Throws InvalidArgument "[<where>] <path>: cannot open" (or "cannot read").
std::string read_file(const std::string& path, const char* where);

}  // namespace bigbatch
