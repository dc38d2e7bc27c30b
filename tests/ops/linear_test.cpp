// Reference linear layer: a hand-computed case, every gradient vs finite differences, float
// vs double, and argument errors.
#include "bigbatch/ops/linear.h"

#include <gtest/gtest.h>

#include <ostream>
#include <vector>

#include "bigbatch/core/error.h"
#include "testing/gradcheck.h"

namespace bigbatch::ops {
namespace {

using testing::check_gradient;
using testing::dot;
using testing::expect_near_relative;
using testing::nan_vector;
using testing::random_vector;

struct LinearCase {
  int64_t batch;
  LinearParams p;
};

std::ostream& operator<<(std::ostream& os, const LinearCase& c) {
  return os << "batch " << c.batch << " " << c.p.in_features << " -> " << c.p.out_features
            << (c.p.bias ? " bias" : "");
}

class LinearCases : public ::testing::TestWithParam<LinearCase> {};

TEST_P(LinearCases, GradientsMatchFiniteDifferences) {
  const auto [batch, p] = GetParam();
  const int64_t I = p.in_features, O = p.out_features;
  auto src = random_vector(batch * I, 1), weights = random_vector(O * I, 2), bias = random_vector(O, 3);
  const auto diff_dst = random_vector(batch * O, 4);
  auto dst = nan_vector(batch * O);
  auto loss = [&] {
    linear_forward(p, batch, src.data(), weights.data(), p.bias ? bias.data() : nullptr, dst.data());
    return dot(dst.data(), diff_dst.data(), batch * O);
  };
  auto diff_src = nan_vector(batch * I), diff_weights = nan_vector(O * I), diff_bias = nan_vector(O);
  linear_backward_data(p, batch, diff_dst.data(), weights.data(), diff_src.data());
  linear_backward_weights(p, batch, src.data(), diff_dst.data(), diff_weights.data(),
                          p.bias ? diff_bias.data() : nullptr);
  EXPECT_TRUE(check_gradient(loss, src.data(), batch * I, diff_src.data())) << "diff_src";
  EXPECT_TRUE(check_gradient(loss, weights.data(), O * I, diff_weights.data())) << "diff_weights";
  if (p.bias) {
    EXPECT_TRUE(check_gradient(loss, bias.data(), O, diff_bias.data())) << "diff_bias";
  }
}

TEST_P(LinearCases, FloatMatchesDouble) {
  const auto [batch, p] = GetParam();
  const int64_t I = p.in_features, O = p.out_features;
  const auto src = random_vector<float>(batch * I, 5), weights = random_vector<float>(O * I, 6);
  const auto bias = random_vector<float>(O, 7), diff_dst = random_vector<float>(batch * O, 8);
  const std::vector<double> src_d(src.begin(), src.end()), weights_d(weights.begin(), weights.end());
  const std::vector<double> bias_d(bias.begin(), bias.end()), diff_dst_d(diff_dst.begin(), diff_dst.end());
  auto dst = nan_vector<float>(batch * O), diff_src = nan_vector<float>(batch * I);
  auto diff_w = nan_vector<float>(O * I), diff_b = nan_vector<float>(O);
  auto dst_d = nan_vector(batch * O), diff_src_d = nan_vector(batch * I), diff_w_d = nan_vector(O * I);
  auto diff_b_d = nan_vector(O);
  linear_forward(p, batch, src.data(), weights.data(), bias.data(), dst.data());
  linear_forward(p, batch, src_d.data(), weights_d.data(), bias_d.data(), dst_d.data());
  linear_backward_data(p, batch, diff_dst.data(), weights.data(), diff_src.data());
  linear_backward_data(p, batch, diff_dst_d.data(), weights_d.data(), diff_src_d.data());
  linear_backward_weights(p, batch, src.data(), diff_dst.data(), diff_w.data(), diff_b.data());
  linear_backward_weights(p, batch, src_d.data(), diff_dst_d.data(), diff_w_d.data(), diff_b_d.data());
  expect_near_relative(dst.data(), dst_d.data(), batch * O, 1e-6, 1e-6);
  expect_near_relative(diff_src.data(), diff_src_d.data(), batch * I, 1e-6, 1e-6);
  expect_near_relative(diff_w.data(), diff_w_d.data(), O * I, 1e-6, 1e-6);
  if (p.bias) expect_near_relative(diff_b.data(), diff_b_d.data(), O, 1e-6, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Shapes, LinearCases,
                         ::testing::Values(LinearCase{1, {.in_features = 5, .out_features = 3, .bias = true}},
                                           LinearCase{4, {.in_features = 7, .out_features = 2, .bias = false}},
                                           LinearCase{3, {.in_features = 1, .out_features = 4, .bias = true}},
                                           LinearCase{6, {.in_features = 16, .out_features = 10, .bias = true}}));

TEST(Linear, HandComputed) {
  // dst = [1, 2] · [[1, 1], [2, -1]]ᵀ + [0.5, 0] = [3.5, 0].
  const std::vector<double> src = {1, 2}, weights = {1, 1, 2, -1}, bias = {0.5, 0};
  auto dst = nan_vector(2);
  linear_forward({.in_features = 2, .out_features = 2}, 1, src.data(), weights.data(), bias.data(), dst.data());
  EXPECT_EQ(dst, (std::vector<double>{3.5, 0}));
}

TEST(Linear, ArgumentErrorsThrow) {
  const std::vector<float> buf(16);
  std::vector<float> out(16);
  EXPECT_THROW(linear_forward({.in_features = 0, .out_features = 2}, 1, buf.data(), buf.data(), buf.data(),
                              out.data()),
               InvalidArgument);
  EXPECT_THROW(linear_forward({.in_features = 2, .out_features = 2, .bias = true}, 1, buf.data(), buf.data(),
                              static_cast<const float*>(nullptr), out.data()),
               InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::ops
