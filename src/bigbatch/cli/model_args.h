// Arguments shared by the subcommands: the CxHxW input flag, per-model default inputs,
// and number formatting for tables.
#pragma once

#include <cstdint>
#include <string>

namespace bigbatch::cli {

struct InputDims {
  int64_t channels = 0, height = 0, width = 0;
  std::string to_string() const;  // "3x224x224"
};

// Parses "CxHxW" (positive integers, 'x' or 'X'); throws InvalidArgument naming `flag`.
InputDims parse_input_dims(const std::string& text, const std::string& flag);

// The input and class count a model is usually run at (models::usual_spec).
struct ModelDefaults {
  InputDims input;
  int64_t classes = 0;
};
ModelDefaults model_defaults(const std::string& model);

// 25557032 -> "25,557,032".
std::string with_thousands(int64_t value);

}  // namespace bigbatch::cli
