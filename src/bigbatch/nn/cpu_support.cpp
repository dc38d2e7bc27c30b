// What the CPU backend supports, for callers above nn that must not include backend/cpu
// (a build without oneDNN links cpu_executor_stub.cpp instead).
#include <map>
#include <sstream>
#include <string>

#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/backend/cpu/conv2d.h"
#include "bigbatch/core/error.h"
#include "bigbatch/nn/executor.h"

namespace bigbatch::nn {

bool cpu_has_native_bf16() { return backend::cpu::has_native_bf16(); }

std::string cpu_tuning_record() {
  std::ostringstream out;
  for (const auto& [shape, winograd] : backend::cpu::tuned_conv_choices())
    out << (winograd ? "winograd " : "direct ") << shape << "\n";
  return out.str();
}

void replay_cpu_tuning(const std::string& record, const std::string& source) {
  std::map<std::string, bool> choices;
  std::istringstream in(record);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    const size_t space = line.find(' ');
    const std::string algorithm = line.substr(0, space);
    BIGBATCH_CHECK(space != std::string::npos && space + 1 < line.size() &&
                       (algorithm == "winograd" || algorithm == "direct"),
                   "[train] " << source << ":" << number << ": expected 'winograd|direct <shape>', got '" << line << "'");
    choices[line.substr(space + 1)] = algorithm == "winograd";
  }
  backend::cpu::preset_tuned_conv_choices(choices);
}

}  // namespace bigbatch::nn
