// Exceptions with context, thrown at API boundaries; the CLI turns them into one line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace bigbatch {

// Base of every error bigbatch throws. Messages start with where: "[conv2d] ...".
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The caller gave something malformed: a shape, a flag, a file.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// A library (oneDNN, cuDNN, ...) reported a failure.
class BackendError : public Error {
 public:
  using Error::Error;
};

// Communication failed or a peer went away.
class CommError : public Error {
 public:
  using Error::Error;
};

}  // namespace bigbatch

// BIGBATCH_CHECK(cond, "[where] expected ... got " << x): throws InvalidArgument.
#define BIGBATCH_CHECK(cond, message)                                 \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::ostringstream bigbatch_check_stream_;                      \
      bigbatch_check_stream_ << message;                              \
      throw ::bigbatch::InvalidArgument(bigbatch_check_stream_.str()); \
    }                                                                 \
  } while (0)

// BIGBATCH_THROW(Type, "[where] ..." << x): throws Type with a streamed message.
#define BIGBATCH_THROW(Type, message)            \
  do {                                           \
    std::ostringstream bigbatch_throw_stream_;   \
    bigbatch_throw_stream_ << message;           \
    throw Type(bigbatch_throw_stream_.str());    \
  } while (0)
