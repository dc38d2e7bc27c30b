// The oneDNN CPU engine and stream shared by every primitive of a process, and the check
// that turns oneDNN's exceptions into BackendError with context.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <string>

namespace bigbatch::backend::cpu {

struct Context {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

// The process-wide context (created on first use).
Context& context();

// True when the CPU runs bf16 convolutions natively (AVX512-BF16 or AMX).
bool has_native_bf16();

}  // namespace bigbatch::backend::cpu

// BIGBATCH_DNNL("[conv2d] forward", expr): runs expr, rethrowing dnnl::error as BackendError
// "[conv2d] forward: oneDNN <status>: <message>".
#define BIGBATCH_DNNL(where, ...)                                                   \
  do {                                                                              \
    try {                                                                           \
      __VA_ARGS__;                                                                  \
    } catch (const dnnl::error& bigbatch_dnnl_error_) {                             \
      ::bigbatch::backend::cpu::throw_dnnl_error(where, bigbatch_dnnl_error_);      \
    }                                                                               \
  } while (0)

namespace bigbatch::backend::cpu {
[[noreturn]] void throw_dnnl_error(const std::string& where, const dnnl::error& error);
}  // namespace bigbatch::backend::cpu
