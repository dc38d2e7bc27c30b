// One block per row: max, sum of exponentials and the diff in three sweeps over the row.
#include "bigbatch/backend/cuda/loss.h"

#include "bigbatch/backend/cuda/resources.h"

namespace bigbatch::backend::cuda {

namespace {

constexpr int kThreads = 256;

// Reduces v over the block with op; identity fills the lanes past the block's warps.
template <class Op>
__device__ float block_reduce(float v, Op op, float identity, float* shared) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // shared may still be read by the previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kThreads / 32 ? shared[lane] : identity;
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
    if (lane == 0) shared[0] = v;
  }
  __syncthreads();
  return shared[0];
}

__global__ void softmax_ce_kernel(int64_t K, const float* logits, const int32_t* labels, double divisor, float scale,
                                  double* loss, float* diff, int* bad_label) {
  __shared__ float shared[32];
  const int64_t row = blockIdx.x;
  const float* x = logits + row * K;
  float* d = diff + row * K;
  const int32_t label = labels[row];
  const bool ok = label >= 0 && label < K;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < K; j += blockDim.x) m = fmaxf(m, x[j]);
  m = block_reduce(m, [](float a, float b) { return fmaxf(a, b); }, -INFINITY, shared);
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < K; j += blockDim.x) s += expf(x[j] - m);
  s = block_reduce(s, [](float a, float b) { return a + b; }, 0.0f, shared);
  const float inv = static_cast<float>(scale / divisor);
  for (int64_t j = threadIdx.x; j < K; j += blockDim.x) {
    const float p = expf(x[j] - m) / s;
    d[j] = ok ? (p - (j == label ? 1.0f : 0.0f)) * inv : 0.0f;
  }
  if (threadIdx.x == 0) {
    if (!ok) {
      *bad_label = 1;
      return;
    }
    // -log softmax = log(s) + m - x[label], in double as the reference sums.
    atomicAdd(loss, (log(static_cast<double>(s)) + m - x[label]) / divisor);
  }
}

__global__ void topk_kernel(int64_t N, int64_t K, const float* logits, const int32_t* labels, int64_t k,
                            unsigned long long* correct) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (row >= N) return;
  const int32_t label = labels[row];
  if (label < 0 || label >= K) return;
  const float* x = logits + row * K;
  const float target = x[label];
  int64_t greater = 0;
  for (int64_t j = 0; j < K; ++j) greater += x[j] > target;
  if (greater < k) atomicAdd(correct, 1ull);
}

}  // namespace

void softmax_cross_entropy(int64_t batch, int64_t classes, const float* logits, const int32_t* labels, double divisor,
                           float scale, double* loss, float* diff_logits, int* bad_label, cudaStream_t stream) {
  if (batch == 0) return;
  softmax_ce_kernel<<<static_cast<unsigned>(batch), kThreads, 0, stream>>>(classes, logits, labels, divisor, scale,
                                                                           loss, diff_logits, bad_label);
  check_launch("softmax_cross_entropy");
}

void topk_correct(int64_t batch, int64_t classes, const float* logits, const int32_t* labels, int64_t k,
                  unsigned long long* correct, cudaStream_t stream) {
  if (batch == 0) return;
  topk_kernel<<<blocks_for(batch, 128), 128, 0, stream>>>(batch, classes, logits, labels, k, correct);
  check_launch("topk_correct");
}

}  // namespace bigbatch::backend::cuda
