// What the CPU backend supports, for callers above nn that must not include backend/cpu
// (a build without oneDNN links cpu_executor_stub.cpp instead).
#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/nn/executor.h"

namespace bigbatch::nn {

bool cpu_has_native_bf16() { return backend::cpu::has_native_bf16(); }

}  // namespace bigbatch::nn
