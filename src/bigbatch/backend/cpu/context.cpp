#include "bigbatch/backend/cpu/context.h"

#include "bigbatch/core/error.h"

namespace bigbatch::backend::cpu {

Context& context() {
  static Context ctx;
  return ctx;
}

bool has_native_bf16() {
  dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

void throw_dnnl_error(const std::string& where, const dnnl::error& error) {
  BIGBATCH_THROW(BackendError, where << ": oneDNN status " << static_cast<int>(error.status) << ": " << error.what());
}

}  // namespace bigbatch::backend::cpu
