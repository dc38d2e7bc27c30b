// cuDNN convolution: descriptors and algorithm choice at construction, three calls per step.
#include "bigbatch/backend/cuda/conv2d.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

#include "bigbatch/backend/cuda/check.h"
#include "bigbatch/backend/cuda/eltwise.h"
#include "bigbatch/core/error.h"

namespace bigbatch::backend::cuda {

namespace {

// No algorithm may ask for more: the executor plans one workspace for the largest conv.
constexpr size_t kMaxWorkspace = size_t{1} << 30;

struct Choice {
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnMathType_t fwd_math{};
  size_t fwd_bytes = 0;
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnMathType_t bwd_data_math{};
  size_t bwd_data_bytes = 0;
  cudnnConvolutionBwdFilterAlgo_t bwd_weights{};
  cudnnMathType_t bwd_weights_math{};
  size_t bwd_weights_bytes = 0;
};

// cudnnFind* times real kernels: once per shape for the process (ResNets repeat shapes).
std::mutex g_cache_mutex;
std::map<std::string, Choice> g_cache;

ConvDescOwner make_conv_desc(const ops::Conv2dParams& p, cudnnMathType_t math) {
  cudnnConvolutionDescriptor_t desc = nullptr;
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&desc));
  ConvDescOwner owner(desc);
  // Cross-correlation as PyTorch; f32 accumulation for every data type.
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(desc, static_cast<int>(p.pad_h), static_cast<int>(p.pad_w),
                                              static_cast<int>(p.stride_h), static_cast<int>(p.stride_w), 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionMathType(desc, math));
  return owner;
}

// The first (fastest) result that succeeded within the workspace limit.
template <class Perf>
const Perf& pick(const Perf* perf, int count, const char* what) {
  for (int i = 0; i < count; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kMaxWorkspace) return perf[i];
  BIGBATCH_THROW(BackendError, "[conv2d:cuda] cudnnFind found no usable " << what << " algorithm");
}

}  // namespace

Conv2d::Conv2d(Context& ctx, const ops::Conv2dParams& p, const ops::Dims4& src, DType dtype, Layout layout,
               bool allow_tf32)
    : ctx_(ctx), p_(p), dst_dims_(ops::conv2d_dst_dims(p, src)), dtype_(dtype), layout_(layout) {
  src_desc_ = make_tensor_desc(dtype, layout, src);
  dst_desc_ = make_tensor_desc(dtype, layout, dst_dims_);
  weights_desc_ = make_filter_desc(dtype, layout, p.out_channels, p.in_channels, p.kernel_h, p.kernel_w);
  // Tensor cores for 16-bit data; for f32 only when TF32 is allowed (FMA math forbids it).
  const cudnnMathType_t math = dtype != DType::f32 ? CUDNN_TENSOR_OP_MATH
                               : allow_tf32        ? CUDNN_DEFAULT_MATH
                                                   : CUDNN_FMA_MATH;

  std::ostringstream key;
  key << src.to_string() << "|" << p.out_channels << "x" << p.kernel_h << "x" << p.kernel_w << "|s" << p.stride_h << "x"
      << p.stride_w << "|p" << p.pad_h << "x" << p.pad_w << "|" << dtype_name(dtype) << "|"
      << (layout == Layout::nhwc ? "nhwc" : "nchw") << "|" << static_cast<int>(math) << "|dev" << ctx.device;
  Choice c;
  {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    auto it = g_cache.find(key.str());
    if (it != g_cache.end()) {
      c = it->second;
    } else {
      // cudnnFind* times every algorithm (the default, as PyTorch's cudnn.benchmark);
      // BIGBATCH_CUDNN_ALGO=heuristic takes cuDNN's untimed ranking (_v7), for quick starts.
      const char* env = std::getenv("BIGBATCH_CUDNN_ALGO");
      const bool find = env == nullptr || std::string(env) != "heuristic";
      ConvDescOwner probe = make_conv_desc(p, math);
      cudnnHandle_t h = ctx.cudnn.get();
      constexpr int kMax = 16;
      int n = 0;
      cudnnConvolutionFwdAlgoPerf_t fwd[kMax];
      if (find)
        CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(h, src_desc_.get(), weights_desc_.get(), probe.get(),
                                                         dst_desc_.get(), kMax, &n, fwd));
      else
        CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, src_desc_.get(), weights_desc_.get(), probe.get(),
                                                           dst_desc_.get(), kMax, &n, fwd));
      const auto& f = pick(fwd, n, "forward");
      c.fwd = f.algo, c.fwd_math = f.mathType;
      cudnnConvolutionBwdDataAlgoPerf_t bd[kMax];
      if (find)
        CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(h, weights_desc_.get(), dst_desc_.get(), probe.get(),
                                                              src_desc_.get(), kMax, &n, bd));
      else
        CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, weights_desc_.get(), dst_desc_.get(), probe.get(),
                                                                src_desc_.get(), kMax, &n, bd));
      const auto& d = pick(bd, n, "backward-data");
      c.bwd_data = d.algo, c.bwd_data_math = d.mathType;
      cudnnConvolutionBwdFilterAlgoPerf_t bw[kMax];
      if (find)
        CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(h, src_desc_.get(), dst_desc_.get(), probe.get(),
                                                                weights_desc_.get(), kMax, &n, bw));
      else
        CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, src_desc_.get(), dst_desc_.get(), probe.get(),
                                                                  weights_desc_.get(), kMax, &n, bw));
      const auto& w = pick(bw, n, "backward-weights");
      c.bwd_weights = w.algo, c.bwd_weights_math = w.mathType;
      // Workspace sizes asked for the chosen algorithm and math type (the heuristic's
      // memory field is an estimate).
      ConvDescOwner fd = make_conv_desc(p, c.fwd_math), dd = make_conv_desc(p, c.bwd_data_math),
                    wd = make_conv_desc(p, c.bwd_weights_math);
      CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, src_desc_.get(), weights_desc_.get(), fd.get(),
                                                          dst_desc_.get(), c.fwd, &c.fwd_bytes));
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, weights_desc_.get(), dst_desc_.get(), dd.get(),
                                                               src_desc_.get(), c.bwd_data, &c.bwd_data_bytes));
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
          h, src_desc_.get(), dst_desc_.get(), wd.get(), weights_desc_.get(), c.bwd_weights, &c.bwd_weights_bytes));
      g_cache.emplace(key.str(), c);
    }
  }
  // Each direction runs with the math type its algorithm was timed with.
  fwd_desc_ = make_conv_desc(p, c.fwd_math);
  bwd_data_desc_ = make_conv_desc(p, c.bwd_data_math);
  bwd_weights_desc_ = make_conv_desc(p, c.bwd_weights_math);
  fwd_algo_ = c.fwd;
  bwd_data_algo_ = c.bwd_data;
  bwd_weights_algo_ = c.bwd_weights;
  workspace_bytes_ = std::max({c.fwd_bytes, c.bwd_data_bytes, c.bwd_weights_bytes});
}

void Conv2d::forward(const void* src, const void* weights, const void* bias, void* dst, void* workspace) const {
  const float one = 1.0f, zero = 0.0f;
  CUDNN_CHECK(cudnnConvolutionForward(ctx_.cudnn.get(), &one, src_desc_.get(), src, weights_desc_.get(), weights,
                                      fwd_desc_.get(), fwd_algo_, workspace, workspace_bytes_, &zero, dst_desc_.get(),
                                      dst));
  if (p_.bias) channel_bias_forward(dtype_, layout_, dst_dims_, bias, dst, ctx_.stream);
}

void Conv2d::backward_data(const void* diff_dst, const void* weights, void* diff_src, bool accumulate,
                           void* workspace) const {
  const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  CUDNN_CHECK(cudnnConvolutionBackwardData(ctx_.cudnn.get(), &one, weights_desc_.get(), weights, dst_desc_.get(),
                                           diff_dst, bwd_data_desc_.get(), bwd_data_algo_, workspace, workspace_bytes_,
                                           &beta, src_desc_.get(), diff_src));
}

void Conv2d::backward_weights(const void* src, const void* diff_dst, void* diff_weights, void* diff_bias,
                              void* workspace) const {
  const float one = 1.0f, zero = 0.0f;
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(ctx_.cudnn.get(), &one, src_desc_.get(), src, dst_desc_.get(), diff_dst,
                                             bwd_weights_desc_.get(), bwd_weights_algo_, workspace, workspace_bytes_,
                                             &zero, weights_desc_.get(), diff_weights));
  if (p_.bias) channel_bias_backward(dtype_, layout_, dst_dims_, diff_dst, diff_bias, ctx_.stream);
}

}  // namespace bigbatch::backend::cuda
