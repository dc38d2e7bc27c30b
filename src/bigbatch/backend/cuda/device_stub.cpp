// The header-free CUDA entry points for a build without CUDA (BIGBATCH_CUDA=OFF): there is
// never a device, and anything that would touch one throws.
#include "bigbatch/backend/cuda/arena_ops.h"
#include "bigbatch/backend/cuda/device.h"
#include "bigbatch/backend/cuda/sgd.h"
#include "bigbatch/core/error.h"

namespace bigbatch::backend::cuda {

namespace {
[[noreturn]] void no_cuda() { BIGBATCH_THROW(BackendError, "[cuda] bigbatch was built without CUDA"); }
}  // namespace

bool built_with_cuda() { return false; }

int device_count() { return 0; }

void require_device(const char* where, int /*index*/) {
  BIGBATCH_THROW(BackendError, where << " bigbatch was built without CUDA (configure with nvcc and cuDNN present, "
                                        "or -DBIGBATCH_CUDA=ON)");
}

void* compute_stream(int) { no_cuda(); }
int current_device() { no_cuda(); }
std::shared_ptr<Storage> allocate_storage(size_t) { no_cuda(); }
std::shared_ptr<Storage> allocate_pinned_host_storage(size_t) { no_cuda(); }
void copy_bytes(void*, const void*, size_t) { no_cuda(); }
void copy_bytes_async(void*, const void*, size_t) { no_cuda(); }
void zero_bytes(void*, size_t) { no_cuda(); }
void add_into(float*, const float*, int64_t) { no_cuda(); }
void scale(float*, int64_t, float) { no_cuda(); }
bool all_finite(const float*, int64_t) { no_cuda(); }
void synchronize() { no_cuda(); }
struct StreamMark::Impl {};
StreamMark::StreamMark() { no_cuda(); }
StreamMark::~StreamMark() = default;
void StreamMark::record() { no_cuda(); }
void StreamMark::wait() const { no_cuda(); }
void sgd_update(float*, const float*, float*, int64_t, const std::vector<SgdSegment>&, const SgdStep&) { no_cuda(); }
void square_sums(const float*, const float*, const std::vector<int64_t>&, std::vector<double>&, std::vector<double>&) {
  no_cuda();
}

}  // namespace bigbatch::backend::cuda
