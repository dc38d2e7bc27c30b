// Batch normalisation's f32 loops on the CPU, training forward and backward side by side,
// with every sum over N·H·W accumulated in double (oneDNN's kernels sum in f32, which left
// resnet20's BN gradients up to ~1e-4 off; issue 16 item 12). Ghost groups as RECIPE §6.
// They read and write oneDNN's activation layouts in place: nchw, nhwc and channel blocks
// (nChw8c, nChw16c), described by BnLayout. Statistics and parameters are f32 C (per group).
#pragma once

#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <vector>

namespace bigbatch::backend::cpu {

// Where element (n, c, position) of an N×C×(H·W) activation lives, in elements:
//   n·n_stride + (c / lanes)·block_stride + position·pos_stride + c % lanes.
// lanes is the number of channels side by side in memory: the block (8, 16) of a blocked
// layout, C for nhwc, 1 for nchw. Channels past C in the last block are padding (zero).
struct BnLayout {
  int64_t n = 0, c = 0, positions = 0;
  int64_t lanes = 1, blocks = 0;
  int64_t n_stride = 0, block_stride = 0, pos_stride = 0;

  // The layout of an f32 N×C×H×W md, or nothing for other dtypes and layouts.
  static std::optional<BnLayout> of(const dnnl::memory::desc& md);
  int64_t padded_c() const { return blocks * lanes; }
};

// Owns the per-example partial sums (2 × N × padded C doubles, planned once). Each (example,
// channel block) is summed by one thread into its own partials, which are then added in a
// fixed order: the results do not depend on the thread count.
class BatchNormF32 {
 public:
  // group: examples per statistics group (N a multiple of it); eps as in ops::BatchNormParams.
  BatchNormF32(const BnLayout& layout, int64_t group, double eps, bool fuse_relu);

  // Per group g of `group` examples: mean and biased variance over its group·H·W values
  // (one pass of Σx and Σx² in double: exact products, so the variance keeps f32 precision
  // unless |mean| exceeds ~1000 standard deviations), then dst = (src − mean)·γ·invstd + β
  // (and max(0, ·) with fuse_relu). mean, var, invstd: groups×C; var is biased.
  void forward_training(const float* src, const float* gamma, const float* beta, float* dst, float* mean, float* var,
                        float* invstd) const;
  // Backward of the last forward_training, with its mean and invstd (the ReLU mask is
  // recomputed from src exactly as forward computed dst; the exact mean is kept from forward). Σdy and Σdy·(x − mean)
  // in double per group; diff_gamma / diff_beta (C) are the sums over groups; diff_src overwritten.
  void backward(const float* src, const float* diff_dst, const float* gamma, const float* beta, const float* mean,
                const float* invstd, float* diff_src, float* diff_gamma, float* diff_beta) const;

 private:
  // Per example and channel, into part_: Σx and Σx² (diff_dst null), else Σd and Σd·(x − mean)
  // with the coefficients already in coef_.
  void reduce(const float* src, const float* diff_dst) const;

  BnLayout l_;
  int64_t group_ = 0, groups_ = 0;
  double eps_ = 0.0;
  bool relu_ = false;
  mutable std::vector<double> part_;  // [2][N][padded C], then diff_gamma and diff_beta [2][padded C]
  // Per group and padded channel (0 in padding): a = γ·invstd, the f32 mean, β, and for
  // backward's diff_src mean_d and q.
  mutable std::vector<float> coef_;   // [5][groups][padded C]
  mutable std::vector<double> mean_;  // [groups][padded C], forward's mean before rounding
};

}  // namespace bigbatch::backend::cpu
