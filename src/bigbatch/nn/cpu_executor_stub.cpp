// The CPU executor in a build without oneDNN (BIGBATCH_DNNL=OFF, a GPU-only build): it cannot
// be made; --device cuda is the way to run.
#include "bigbatch/core/error.h"
#include "bigbatch/nn/executor.h"

namespace bigbatch::nn {

bool cpu_has_native_bf16() { return false; }

std::string cpu_tuning_record() { return {}; }
void replay_cpu_tuning(const std::string&, const std::string&) {}

std::unique_ptr<Executor> make_cpu_executor(const ExecutorBindings&, const ExecutorOptions&) {
  BIGBATCH_THROW(BackendError, "[cpu] bigbatch was built without oneDNN (BIGBATCH_DNNL=OFF); use --device cuda");
}

}  // namespace bigbatch::nn
