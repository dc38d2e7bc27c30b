// The reference ops on shapes large enough to take their OpenMP paths: every output has one
// owner and a fixed summation order, so 1 and 3 threads must agree bit for bit.
#include <gtest/gtest.h>

#include <vector>

#include "bigbatch/core/threading.h"
#include "bigbatch/ops/add.h"
#include "bigbatch/ops/batch_norm.h"
#include "bigbatch/ops/concat.h"
#include "bigbatch/ops/conv2d.h"
#include "bigbatch/ops/dropout.h"
#include "bigbatch/ops/linear.h"
#include "bigbatch/ops/pool.h"
#include "bigbatch/ops/relu.h"
#include "bigbatch/ops/softmax_cross_entropy.h"
#include "testing/gradcheck.h"

namespace bigbatch::ops {
namespace {

using testing::nan_vector;
using testing::random_vector;
using Outputs = std::vector<std::vector<float>>;

// run() computes and returns the op's outputs; it is called with 1 thread, then with 3.
template <class Run>
void expect_thread_invariant(Run run) {
  const int saved = num_threads();
  set_num_threads(1);
  const Outputs serial = run();
  set_num_threads(3);
  const Outputs parallel = run();
  set_num_threads(saved);
  ASSERT_EQ(serial.size(), parallel.size());
  for (size_t i = 0; i < serial.size(); ++i) EXPECT_TRUE(serial[i] == parallel[i]) << "output " << i;
}

TEST(ThreadInvariance, Conv2d) {
  const Conv2dParams same{.in_channels = 8, .out_channels = 8, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1,
                          .bias = true};
  Conv2dParams strided = same;
  strided.out_channels = 16;
  strided.stride_h = strided.stride_w = 2;
  for (const auto& [p, s] : {std::pair{same, Dims4{4, 8, 16, 16}}, std::pair{strided, Dims4{2, 8, 15, 15}}}) {
    const Dims4 d = conv2d_dst_dims(p, s);
    const int64_t weights_count = p.out_channels * p.in_channels * 9;
    const auto src = random_vector<float>(s.numel(), 1), weights = random_vector<float>(weights_count, 2);
    const auto bias = random_vector<float>(p.out_channels, 3), diff_dst = random_vector<float>(d.numel(), 4);
    expect_thread_invariant([&] {
      auto dst = nan_vector<float>(d.numel()), diff_src = nan_vector<float>(s.numel());
      auto diff_weights = nan_vector<float>(weights_count), diff_bias = nan_vector<float>(p.out_channels);
      conv2d_forward(p, s, src.data(), weights.data(), bias.data(), dst.data());
      conv2d_backward_data(p, s, diff_dst.data(), weights.data(), diff_src.data());
      conv2d_backward_weights(p, s, src.data(), diff_dst.data(), diff_weights.data(), diff_bias.data());
      return Outputs{dst, diff_src, diff_weights, diff_bias};
    });
  }
}

// Dropout's mask is a hash of each element's index, whatever thread draws it; concat copies.
TEST(ThreadInvariance, DropoutAndConcat) {
  const Dims4 d{8, 64, 16, 16};  // 131,072 elements: past the ops' parallel threshold
  const auto src = random_vector<float>(d.numel(), 5);
  const DropoutKey key{dropout_stream(7, 3, 11), 40};
  const std::vector<Dims4> parts{{8, 24, 16, 16}, {8, 40, 16, 16}};
  expect_thread_invariant([&] {
    auto dst = nan_vector<float>(d.numel()), diff_src = nan_vector<float>(d.numel());
    dropout_forward(DropoutParams{0.5}, key, d, src.data(), dst.data());
    dropout_backward(DropoutParams{0.5}, key, d, src.data(), diff_src.data());
    auto cat = nan_vector<float>(d.numel());
    const std::vector<const float*> srcs{src.data(), src.data() + parts[0].numel()};
    concat_forward<float>(parts, srcs, cat.data());
    return Outputs{dst, diff_src, cat};
  });
}

TEST(ThreadInvariance, BatchNorm) {
  const Dims4 d{8, 16, 16, 16};
  const BatchNormParams p{.channels = 16, .group_size = 4, .fuse_relu = true};
  const auto src = random_vector<float>(d.numel(), 5), diff_dst = random_vector<float>(d.numel(), 6);
  const auto gamma = random_vector<float>(d.c, 7), beta = random_vector<float>(d.c, 8);
  expect_thread_invariant([&] {
    auto dst = nan_vector<float>(d.numel()), diff_src = nan_vector<float>(d.numel());
    auto infer = nan_vector<float>(d.numel());
    auto mean = nan_vector<float>(2 * d.c), invstd = nan_vector<float>(2 * d.c);
    auto diff_gamma = nan_vector<float>(d.c), diff_beta = nan_vector<float>(d.c);
    std::vector<float> running_mean(d.c, 0.0f), running_var(d.c, 1.0f);
    batch_norm_forward_training(p, d, src.data(), gamma.data(), beta.data(), dst.data(), mean.data(), invstd.data(),
                                running_mean.data(), running_var.data());
    batch_norm_backward(p, d, src.data(), dst.data(), diff_dst.data(), gamma.data(), mean.data(), invstd.data(),
                        diff_src.data(), diff_gamma.data(), diff_beta.data());
    batch_norm_forward_inference(p, d, src.data(), gamma.data(), beta.data(), running_mean.data(), running_var.data(),
                                 infer.data());
    return Outputs{dst, mean, invstd, running_mean, running_var, diff_src, diff_gamma, diff_beta, infer};
  });
}

TEST(ThreadInvariance, Pooling) {
  const Dims4 s{8, 16, 16, 16};
  const PoolParams p{.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
  const Dims4 d = pool_dst_dims(p, s);
  const auto src = random_vector<float>(s.numel(), 9), diff_dst = random_vector<float>(d.numel(), 10);
  expect_thread_invariant([&] {
    auto max_dst = nan_vector<float>(d.numel()), avg_dst = nan_vector<float>(d.numel());
    auto max_diff = nan_vector<float>(s.numel()), avg_diff = nan_vector<float>(s.numel());
    auto global_dst = nan_vector<float>(s.n * s.c), global_diff = nan_vector<float>(s.numel());
    max_pool_forward(p, s, src.data(), max_dst.data());
    max_pool_backward(p, s, src.data(), diff_dst.data(), max_diff.data());
    avg_pool_forward(p, s, src.data(), avg_dst.data());
    avg_pool_backward(p, s, diff_dst.data(), avg_diff.data());
    global_avg_pool_forward(s, src.data(), global_dst.data());
    global_avg_pool_backward(s, diff_dst.data(), global_diff.data());
    return Outputs{max_dst, max_diff, avg_dst, avg_diff, global_dst, global_diff};
  });
}

TEST(ThreadInvariance, LinearAndLoss) {
  const int64_t batch = 64, classes = 1000, in = 64;
  const LinearParams p{.in_features = in, .out_features = classes};
  const auto src = random_vector<float>(batch * in, 11), weights = random_vector<float>(classes * in, 12);
  const auto bias = random_vector<float>(classes, 13);
  std::vector<int32_t> labels(batch);
  for (int64_t i = 0; i < batch; ++i) labels[i] = static_cast<int32_t>((i * 37) % classes);
  expect_thread_invariant([&] {
    auto logits = nan_vector<float>(batch * classes), diff_logits = nan_vector<float>(batch * classes);
    auto diff_src = nan_vector<float>(batch * in), diff_weights = nan_vector<float>(classes * in);
    auto diff_bias = nan_vector<float>(classes);
    linear_forward(p, batch, src.data(), weights.data(), bias.data(), logits.data());
    const double loss = softmax_cross_entropy_forward(batch, classes, logits.data(), labels.data(), 256.0);
    softmax_cross_entropy_backward(batch, classes, logits.data(), labels.data(), 256.0, diff_logits.data());
    linear_backward_data(p, batch, diff_logits.data(), weights.data(), diff_src.data());
    linear_backward_weights(p, batch, src.data(), diff_logits.data(), diff_weights.data(), diff_bias.data());
    return Outputs{logits, {static_cast<float>(loss)}, diff_logits, diff_src, diff_weights, diff_bias};
  });
}

TEST(ThreadInvariance, ElementWise) {
  const int64_t count = 100003;
  const auto a = random_vector<float>(count, 14), b = random_vector<float>(count, 15);
  expect_thread_invariant([&] {
    auto sum = nan_vector<float>(count), relu = nan_vector<float>(count), diff = nan_vector<float>(count);
    add_forward(count, a.data(), b.data(), sum.data());
    relu_forward(count, sum.data(), relu.data());
    relu_backward(count, relu.data(), b.data(), diff.data());
    return Outputs{sum, relu, diff};
  });
}

}  // namespace
}  // namespace bigbatch::ops
