// oneDNN 2-D convolution for one shape: forward, backward_data and backward_weights side by
// side. oneDNN picks the activation and weights layouts (format_tag::any, blocked nChw16c);
// parameters stay f32 OIHW in the arena and are reordered into the chosen layout. Each
// direction runs direct or Winograd (f32 3×3 stride 1), whichever is faster for the shape.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>
#include <map>
#include <string>

#include "bigbatch/backend/cpu/step.h"
#include "bigbatch/ops/conv2d.h"

namespace bigbatch::backend::cpu {

// tuned: time both algorithms per direction at plan time (cached by shape); winograd falls
// back to direct where oneDNN has no Winograd kernel for the problem.
enum class ConvAlgorithm { tuned, direct, winograd };

// The tuned choices of this process so far: shape key -> Winograd (true) or direct. Timing
// differs from process to process, so a resumed run presets the choices of the run it
// continues (before planning) to continue it bitwise.
std::map<std::string, bool> tuned_conv_choices();
void preset_tuned_conv_choices(const std::map<std::string, bool>& choices);

class Conv2d {
 public:
  // src_md: the producer's layout, or format_tag::any to let oneDNN choose (network input).
  // dtype: activations and (reordered) weights; bias and diff_weights are always f32.
  // backward_data: plan diff_src (false for a convolution reading the network's input).
  Conv2d(const ops::Conv2dParams& p, const ops::Dims4& src_dims, dnnl::memory::data_type dtype,
         const dnnl::memory::desc& src_md, bool backward_data, ConvAlgorithm algorithm = ConvAlgorithm::tuned);
  Conv2d(const Conv2d&) = delete;
  Conv2d& operator=(const Conv2d&) = delete;

  const dnnl::memory::desc& src_md() const { return src_md_; }
  const dnnl::memory::desc& dst_md() const { return dst_md_; }
  // Plain f32 layouts of the arena's tensors: weights O×I×KH×KW, bias O.
  const dnnl::memory::desc& weights_plain_md() const { return weights_plain_md_; }
  const dnnl::memory::desc& bias_md() const { return bias_md_; }
  size_t scratchpad_bytes() const;
  // Reordered weights and diff_weights live in a caller-given staging buffer shared by every
  // layer (each use is over before the next layer's begins) instead of three private copies
  // per layer. Call before building steps; backward_data then reorders the weights itself.
  size_t staging_bytes() const;
  void set_staging(void* buffer);
  const ops::Dims4& dst_dims() const { return dst_dims_; }
  // oneDNN's implementation names per direction, e.g. "jit:avx512_core / jit_wino_4x3:...".
  std::string implementation() const;

  // dst = conv(src, weights) + bias. weights: f32 OIHW memory (reordered each run); bias:
  // f32 O, or an empty memory when the convolution has none.
  void forward(StepList& steps, const dnnl::memory& src, const dnnl::memory& weights, const dnnl::memory& bias,
               const dnnl::memory& dst) const;
  // diff_src = conv_transpose(diff_dst, weights). Without staging it reuses forward's
  // reordered weights when the layouts agree, so the forward must have run first.
  void backward_data(StepList& steps, const dnnl::memory& diff_dst, const dnnl::memory& weights,
                     const dnnl::memory& diff_src) const;
  // diff_weights (f32 OIHW, overwritten) and diff_bias (f32 O, or empty).
  void backward_weights(StepList& steps, const dnnl::memory& src, const dnnl::memory& diff_dst,
                        const dnnl::memory& diff_weights, const dnnl::memory& diff_bias) const;

 private:
  ops::Conv2dParams p_;
  ops::Dims4 dst_dims_;
  dnnl::memory::desc src_md_, dst_md_, weights_plain_md_, bias_md_;
  dnnl::convolution_forward::primitive_desc fwd_pd_;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd_;
  dnnl::convolution_backward_weights::primitive_desc bwd_weights_pd_;
  dnnl::convolution_forward fwd_;
  dnnl::convolution_backward_data bwd_data_;
  dnnl::convolution_backward_weights bwd_weights_;
  dnnl::reorder weights_reorder_, bwd_weights_reorder_, diff_weights_reorder_;
  // Kernel-owned buffers: weights in the forward's (and, if it differs, backward_data's)
  // layout; diff_weights in backward_weights' layout when it is not plain OIHW f32.
  dnnl::memory weights_, bwd_data_weights_, diff_weights_;
};

}  // namespace bigbatch::backend::cpu
