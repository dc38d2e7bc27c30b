// Reference batch norm: gradients vs finite differences (whole batch, ghost groups, fused
// ReLU), ghost BN == separate per-worker BN (RECIPE §6), hand-computed statistics, errors.
#include "bigbatch/ops/batch_norm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "bigbatch/core/error.h"
#include "bigbatch/ops/relu.h"
#include "testing/gradcheck.h"

namespace bigbatch::ops {
namespace {

using testing::check_gradient;
using testing::dot;
using testing::expect_near_relative;
using testing::nan_vector;
using testing::random_vector;

// Everything one training step of BN reads and writes, for one batch.
struct BnRun {
  std::vector<double> dst, save_mean, save_invstd, running_mean, running_var;
  std::vector<double> diff_src, diff_gamma, diff_beta;
};

BnRun run_training(const BatchNormParams& p, const Dims4& d, const double* src, const std::vector<double>& gamma,
                   const std::vector<double>& beta, const double* diff_dst) {
  const int64_t groups = batch_norm_groups(p, d);
  BnRun r{.dst = nan_vector(d.numel()),
          .save_mean = nan_vector(groups * d.c),
          .save_invstd = nan_vector(groups * d.c),
          .running_mean = random_vector(d.c, 99),  // the same starting point for every run
          .running_var = random_vector(d.c, 98, 0.5, 2.0),
          .diff_src = nan_vector(d.numel()),
          .diff_gamma = nan_vector(d.c),
          .diff_beta = nan_vector(d.c)};
  batch_norm_forward_training(p, d, src, gamma.data(), beta.data(), r.dst.data(), r.save_mean.data(),
                              r.save_invstd.data(), r.running_mean.data(), r.running_var.data());
  batch_norm_backward(p, d, src, r.dst.data(), diff_dst, gamma.data(), r.save_mean.data(), r.save_invstd.data(),
                      r.diff_src.data(), r.diff_gamma.data(), r.diff_beta.data());
  return r;
}

struct BnCase {
  Dims4 src;
  int64_t group_size;
  bool fuse_relu;
};

std::ostream& operator<<(std::ostream& os, const BnCase& c) {
  return os << "src " << c.src.to_string() << " group_size " << c.group_size << (c.fuse_relu ? " relu" : "");
}

class BatchNormCases : public ::testing::TestWithParam<BnCase> {};

TEST_P(BatchNormCases, GradientsMatchFiniteDifferences) {
  const BnCase c = GetParam();
  const BatchNormParams p{.channels = c.src.c, .group_size = c.group_size, .fuse_relu = c.fuse_relu};
  const int64_t groups = batch_norm_groups(p, c.src);
  auto src = random_vector(c.src.numel(), 1, -2.0, 3.0);
  auto gamma = random_vector(c.src.c, 2, 0.5, 1.5), beta = random_vector(c.src.c, 3);
  const auto diff_dst = random_vector(c.src.numel(), 4);
  auto dst = nan_vector(c.src.numel()), mean = nan_vector(groups * c.src.c), invstd = nan_vector(groups * c.src.c);
  auto loss = [&] {
    batch_norm_forward_training(p, c.src, src.data(), gamma.data(), beta.data(), dst.data(), mean.data(),
                                invstd.data(), static_cast<double*>(nullptr), static_cast<double*>(nullptr));
    return dot(dst.data(), diff_dst.data(), c.src.numel());
  };

  const BnRun r = run_training(p, c.src, src.data(), gamma, beta, diff_dst.data());
  EXPECT_TRUE(check_gradient(loss, src.data(), c.src.numel(), r.diff_src.data())) << "diff_src";
  EXPECT_TRUE(check_gradient(loss, gamma.data(), c.src.c, r.diff_gamma.data())) << "diff_gamma";
  EXPECT_TRUE(check_gradient(loss, beta.data(), c.src.c, r.diff_beta.data())) << "diff_beta";
}

// The fused op equals batch norm followed by the separate ReLU op, forward and backward.
TEST_P(BatchNormCases, FusedReluMatchesSeparateRelu) {
  const BnCase c = GetParam();
  BatchNormParams p{.channels = c.src.c, .group_size = c.group_size, .fuse_relu = true};
  const auto src = random_vector(c.src.numel(), 5), gamma = random_vector(c.src.c, 6);
  const auto beta = random_vector(c.src.c, 7), diff_dst = random_vector(c.src.numel(), 8);
  const BnRun fused = run_training(p, c.src, src.data(), gamma, beta, diff_dst.data());

  p.fuse_relu = false;
  BnRun plain = run_training(p, c.src, src.data(), gamma, beta, diff_dst.data());
  relu_forward(c.src.numel(), plain.dst.data(), plain.dst.data());
  auto masked = nan_vector(c.src.numel());
  relu_backward(c.src.numel(), plain.dst.data(), diff_dst.data(), masked.data());
  auto diff_src = nan_vector(c.src.numel()), diff_gamma = nan_vector(c.src.c), diff_beta = nan_vector(c.src.c);
  batch_norm_backward(p, c.src, src.data(), static_cast<const double*>(nullptr), masked.data(), gamma.data(),
                      plain.save_mean.data(), plain.save_invstd.data(), diff_src.data(), diff_gamma.data(),
                      diff_beta.data());
  expect_near_relative(fused.dst.data(), plain.dst.data(), c.src.numel(), 1e-14, 1e-14);
  expect_near_relative(fused.diff_src.data(), diff_src.data(), c.src.numel(), 1e-12, 1e-12);
  expect_near_relative(fused.diff_gamma.data(), diff_gamma.data(), c.src.c, 1e-12, 1e-12);
  expect_near_relative(fused.diff_beta.data(), diff_beta.data(), c.src.c, 1e-12, 1e-12);
}

TEST_P(BatchNormCases, FloatMatchesDouble) {
  const BnCase c = GetParam();
  const BatchNormParams p{.channels = c.src.c, .group_size = c.group_size, .fuse_relu = c.fuse_relu};
  const int64_t stats = batch_norm_groups(p, c.src) * c.src.c;
  const auto src = random_vector<float>(c.src.numel(), 9), gamma = random_vector<float>(c.src.c, 10);
  const auto beta = random_vector<float>(c.src.c, 11), diff_dst = random_vector<float>(c.src.numel(), 12);
  const std::vector<double> gamma_d(gamma.begin(), gamma.end()), beta_d(beta.begin(), beta.end());
  const std::vector<double> src_d(src.begin(), src.end()), diff_dst_d(diff_dst.begin(), diff_dst.end());
  const BnRun expected = run_training(p, c.src, src_d.data(), gamma_d, beta_d, diff_dst_d.data());

  auto dst = nan_vector<float>(c.src.numel()), diff_src = nan_vector<float>(c.src.numel());
  auto mean = nan_vector<float>(stats), invstd = nan_vector<float>(stats);
  auto diff_gamma = nan_vector<float>(c.src.c), diff_beta = nan_vector<float>(c.src.c);
  std::vector<float> running_mean(expected.running_mean.size()), running_var(running_mean.size());
  testing::fill_uniform(running_mean.data(), c.src.c, 99);
  testing::fill_uniform(running_var.data(), c.src.c, 98, 0.5, 2.0);
  batch_norm_forward_training(p, c.src, src.data(), gamma.data(), beta.data(), dst.data(), mean.data(), invstd.data(),
                              running_mean.data(), running_var.data());
  batch_norm_backward(p, c.src, src.data(), dst.data(), diff_dst.data(), gamma.data(), mean.data(), invstd.data(),
                      diff_src.data(), diff_gamma.data(), diff_beta.data());
  expect_near_relative(dst.data(), expected.dst.data(), c.src.numel(), 1e-5, 1e-5);
  expect_near_relative(running_mean.data(), expected.running_mean.data(), c.src.c, 1e-5, 1e-6);
  expect_near_relative(running_var.data(), expected.running_var.data(), c.src.c, 1e-5, 1e-6);
  expect_near_relative(diff_src.data(), expected.diff_src.data(), c.src.numel(), 1e-4, 1e-5);
  expect_near_relative(diff_gamma.data(), expected.diff_gamma.data(), c.src.c, 1e-4, 1e-5);
  expect_near_relative(diff_beta.data(), expected.diff_beta.data(), c.src.c, 1e-5, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchNormCases,
                         ::testing::Values(BnCase{{4, 3, 3, 3}, 0, false},    // whole batch
                                           BnCase{{1, 2, 3, 5}, 0, false},    // batch 1
                                           BnCase{{5, 2, 1, 1}, 0, false},    // 1x1 maps (after global pool)
                                           BnCase{{6, 2, 3, 2}, 2, false},    // ghost: 3 groups of 2
                                           BnCase{{4, 3, 1, 2}, 1, false},    // ghost: one example per group
                                           BnCase{{4, 3, 3, 3}, 0, true},     // fused ReLU
                                           BnCase{{6, 2, 3, 3}, 3, true}));   // ghost + fused ReLU

// RECIPE §6: a batch of v·n with group_size n is exactly v workers running BN on n each.
TEST(BatchNorm, GhostGroupsEqualSeparateCalls) {
  for (const bool relu : {false, true}) {
    SCOPED_TRACE(relu ? "fused relu" : "no relu");
    const int64_t v = 3, n = 4;
    const Dims4 whole{v * n, 3, 3, 3}, slice{n, 3, 3, 3};
    const auto src = random_vector(whole.numel(), 20), diff_dst = random_vector(whole.numel(), 21);
    const auto gamma = random_vector(whole.c, 22), beta = random_vector(whole.c, 23);
    const BatchNormParams ghost_params{.channels = 3, .group_size = n, .fuse_relu = relu};
    const BnRun ghost = run_training(ghost_params, whole, src.data(), gamma, beta, diff_dst.data());

    std::vector<double> diff_gamma(3, 0.0), diff_beta(3, 0.0), running_mean(3, 0.0), running_var(3, 0.0);
    for (int64_t g = 0; g < v; ++g) {
      const int64_t offset = g * slice.numel();
      const BnRun one = run_training({.channels = 3, .group_size = 0, .fuse_relu = relu}, slice, src.data() + offset,
                                     gamma, beta, diff_dst.data() + offset);
      expect_near_relative(ghost.dst.data() + offset, one.dst.data(), slice.numel(), 1e-13, 1e-13);
      expect_near_relative(ghost.diff_src.data() + offset, one.diff_src.data(), slice.numel(), 1e-12, 1e-12);
      expect_near_relative(ghost.save_mean.data() + g * 3, one.save_mean.data(), 3, 1e-13, 1e-13);
      expect_near_relative(ghost.save_invstd.data() + g * 3, one.save_invstd.data(), 3, 1e-13, 1e-13);
      for (size_t c = 0; c < 3; ++c) {
        diff_gamma[c] += one.diff_gamma[c];
        diff_beta[c] += one.diff_beta[c];
        running_mean[c] += one.running_mean[c] / v;
        running_var[c] += one.running_var[c] / v;
      }
    }
    expect_near_relative(ghost.diff_gamma.data(), diff_gamma.data(), 3, 1e-12, 1e-12);
    expect_near_relative(ghost.diff_beta.data(), diff_beta.data(), 3, 1e-12, 1e-12);
    expect_near_relative(ghost.running_mean.data(), running_mean.data(), 3, 1e-13, 1e-13);
    expect_near_relative(ghost.running_var.data(), running_var.data(), 3, 1e-13, 1e-13);
  }
}

// src = [1, 2 | 3, 4] (N=2, C=1, 1x2): mean 2.5, biased var 1.25, unbiased var 5/3.
TEST(BatchNorm, TrainingStatisticsHandComputed) {
  const std::vector<double> src = {1, 2, 3, 4}, gamma = {2.0}, beta = {0.5};
  auto dst = nan_vector(4), mean = nan_vector(2), invstd = nan_vector(2);
  std::vector<double> running_mean = {1.0}, running_var = {2.0};
  BatchNormParams p{.channels = 1, .group_size = 0, .momentum = 0.1};
  batch_norm_forward_training(p, {2, 1, 1, 2}, src.data(), gamma.data(), beta.data(), dst.data(), mean.data(),
                              invstd.data(), running_mean.data(), running_var.data());
  const double s = 1.0 / std::sqrt(1.25 + 1e-5);
  EXPECT_DOUBLE_EQ(mean[0], 2.5);
  EXPECT_DOUBLE_EQ(invstd[0], s);
  EXPECT_DOUBLE_EQ(running_mean[0], 0.9 * 1.0 + 0.1 * 2.5);
  EXPECT_DOUBLE_EQ(running_var[0], 0.9 * 2.0 + 0.1 * 5.0 / 3.0);
  const std::vector<double> expected = {-1.5 * s * 2 + 0.5, -0.5 * s * 2 + 0.5, 0.5 * s * 2 + 0.5, 1.5 * s * 2 + 0.5};
  expect_near_relative(dst.data(), expected.data(), 4, 1e-15, 1e-15);

  // Ghost groups of 1 example: means 1.5 and 3.5, unbiased variances 0.5 and 0.5; the
  // running stats take their averages (2.5 and 0.5), not the whole batch's variance.
  p.group_size = 1;
  running_mean = {1.0};
  running_var = {2.0};
  batch_norm_forward_training(p, {2, 1, 1, 2}, src.data(), gamma.data(), beta.data(), dst.data(), mean.data(),
                              invstd.data(), running_mean.data(), running_var.data());
  EXPECT_DOUBLE_EQ(mean[0], 1.5);
  EXPECT_DOUBLE_EQ(mean[1], 3.5);
  EXPECT_DOUBLE_EQ(invstd[1], 1.0 / std::sqrt(0.25 + 1e-5));
  EXPECT_DOUBLE_EQ(running_mean[0], 0.9 * 1.0 + 0.1 * 2.5);
  EXPECT_DOUBLE_EQ(running_var[0], 0.9 * 2.0 + 0.1 * 0.5);
}

TEST(BatchNorm, InferenceHandComputed) {
  // N=1, C=2, 1x2; channel 0: (x - 1) / 2 · 2 + 0.5; channel 1: (x - 0) / 1 · 1 - 1.
  const std::vector<double> src = {1, 3, -2, 4}, gamma = {2, 1}, beta = {0.5, -1};
  const std::vector<double> running_mean = {1, 0}, running_var = {4, 1};
  BatchNormParams p{.channels = 2, .eps = 0.0};
  auto dst = nan_vector(4);
  batch_norm_forward_inference(p, {1, 2, 1, 2}, src.data(), gamma.data(), beta.data(), running_mean.data(),
                               running_var.data(), dst.data());
  EXPECT_EQ(dst, (std::vector<double>{0.5, 2.5, -3, 3}));
  p.fuse_relu = true;
  batch_norm_forward_inference(p, {1, 2, 1, 2}, src.data(), gamma.data(), beta.data(), running_mean.data(),
                               running_var.data(), dst.data());
  EXPECT_EQ(dst, (std::vector<double>{0.5, 2.5, 0, 3}));

  const std::vector<float> src_f = {1, 3, -2, 4}, gamma_f = {2, 1}, beta_f = {0.5, -1}, rm_f = {1, 0}, rv_f = {4, 1};
  auto dst_f = nan_vector<float>(4);
  batch_norm_forward_inference(p, {1, 2, 1, 2}, src_f.data(), gamma_f.data(), beta_f.data(), rm_f.data(),
                               rv_f.data(), dst_f.data());
  EXPECT_EQ(dst_f, (std::vector<float>{0.5f, 2.5f, 0.0f, 3.0f}));
}

TEST(BatchNorm, ShapeErrorsThrow) {
  const BatchNormParams p{.channels = 3, .group_size = 4};
  EXPECT_EQ(batch_norm_groups(p, {12, 3, 2, 2}), 3);
  EXPECT_EQ(batch_norm_groups({.channels = 3}, {12, 3, 2, 2}), 1);
  EXPECT_THROW(batch_norm_groups(p, {10, 3, 2, 2}), InvalidArgument);
  EXPECT_THROW(batch_norm_groups(p, {12, 4, 2, 2}), InvalidArgument);
  try {
    batch_norm_groups(p, {10, 3, 2, 2});
    ADD_FAILURE() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()).rfind("[batch_norm] expected a batch that is a multiple of group_size 4", 0), 0u)
        << e.what();
  }
  // One value per channel and group has no variance (PyTorch refuses it too).
  std::vector<double> buf(64);
  EXPECT_THROW(batch_norm_forward_training({.channels = 3, .group_size = 1}, {4, 3, 1, 1}, buf.data(), buf.data(),
                                           buf.data(), buf.data(), buf.data(), buf.data(), buf.data(), buf.data()),
               InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::ops
