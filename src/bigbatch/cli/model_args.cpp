// CLI argument helpers: input-shape parsing, per-model defaults, number formatting.
#include "bigbatch/cli/model_args.h"

#include <algorithm>
#include <charconv>
#include <sstream>
#include <vector>

#include "bigbatch/core/error.h"
#include "bigbatch/models/registry.h"

namespace bigbatch::cli {

std::string InputDims::to_string() const {
  std::ostringstream out;
  out << channels << 'x' << height << 'x' << width;
  return out.str();
}

InputDims parse_input_dims(const std::string& text, const std::string& flag) {
  std::vector<int64_t> dims;
  size_t begin = 0;
  bool ok = true;
  while (ok) {
    const size_t end = std::min(text.find_first_of("xX", begin), text.size());
    int64_t value = 0;
    const char* first = text.data() + begin;
    const char* last = text.data() + end;
    const auto [ptr, ec] = std::from_chars(first, last, value);
    ok = first != last && ec == std::errc() && ptr == last && value > 0;
    if (ok) dims.push_back(value);
    if (end == text.size()) break;
    begin = end + 1;
  }
  BIGBATCH_CHECK(ok && dims.size() == 3,
                 "[cli] " << flag << ": expected CxHxW with positive integers (e.g. 3x224x224), got '" << text << "'");
  return {dims[0], dims[1], dims[2]};
}

ModelDefaults model_defaults(const std::string& model) {
  const models::ModelSpec spec = models::usual_spec(model);
  return {{spec.in_channels, spec.height, spec.width}, spec.num_classes};
}

std::string with_thousands(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

}  // namespace bigbatch::cli
