// Softmax cross-entropy (÷ caller's count, scaled diff) and top-k accuracy vs the reference.
#include "bigbatch/backend/cuda/loss.h"

#include <gtest/gtest.h>

#include "backend/cuda/cuda_test_util.h"
#include "bigbatch/ops/accuracy.h"
#include "bigbatch/ops/softmax_cross_entropy.h"

namespace bigbatch::backend::cuda {
namespace {

using namespace testing;

TEST(CudaLossTest, SoftmaxCrossEntropyAndTopK) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  const int64_t N = 9, K = 1000;  // K larger than a block: the row loops
  std::vector<float> logits(N * K);
  bigbatch::testing::fill_uniform(logits.data(), N * K, 51, -8.0, 8.0);
  std::vector<int32_t> labels(N);
  for (int64_t i = 0; i < N; ++i) labels[static_cast<size_t>(i)] = static_cast<int32_t>((i * 97) % K);
  logits[3 * K + static_cast<size_t>(labels[3])] = 20.0f;  // one sure hit for top-1
  const double divisor = 4096.0;
  const double loss = ops::softmax_cross_entropy_forward<float>(N, K, logits.data(), labels.data(), divisor);
  std::vector<float> diff(N * K);
  ops::softmax_cross_entropy_backward<float>(N, K, logits.data(), labels.data(), divisor, diff.data());

  DeviceBuffer d_logits(logits.size() * sizeof(float)), d_labels(labels.size() * sizeof(int32_t));
  DeviceBuffer d_diff(d_logits.bytes()), d_loss(sizeof(double)), d_correct(sizeof(unsigned long long)),
      d_bad(sizeof(int));
  CUDA_CHECK(cudaMemcpy(d_logits.get(), logits.data(), d_logits.bytes(), cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(d_labels.get(), labels.data(), d_labels.bytes(), cudaMemcpyHostToDevice));
  const float scale = 8.0f;  // an fp16 loss scale multiplies the diff only
  softmax_cross_entropy(N, K, d_logits.as<float>(), d_labels.as<int32_t>(), divisor, scale, d_loss.as<double>(),
                        d_diff.as<float>(), d_bad.as<int>(), nullptr);
  double got_loss = 0.0;
  int bad = 0;
  CUDA_CHECK(cudaMemcpy(&got_loss, d_loss.get(), sizeof got_loss, cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaMemcpy(&bad, d_bad.get(), sizeof bad, cudaMemcpyDeviceToHost));
  EXPECT_NEAR(got_loss, loss, 1e-5 * std::abs(loss));
  EXPECT_EQ(bad, 0);
  std::vector<double> expected(diff.begin(), diff.end());
  for (double& x : expected) x *= scale;
  std::vector<double> got = download_f32(d_diff.as<float>(), N * K);
  EXPECT_TRUE(bigbatch::testing::near_relative(got.data(), expected.data(), N * K, 1e-4, 1e-9));

  for (int64_t k : {1, 5, 500}) {
    CUDA_CHECK(cudaMemset(d_correct.get(), 0, sizeof(unsigned long long)));
    topk_correct(N, K, d_logits.as<float>(), d_labels.as<int32_t>(), k, d_correct.as<unsigned long long>(), nullptr);
    unsigned long long correct = 0;
    CUDA_CHECK(cudaMemcpy(&correct, d_correct.get(), sizeof correct, cudaMemcpyDeviceToHost));
    EXPECT_EQ(static_cast<int64_t>(correct), ops::topk_correct<float>(N, K, logits.data(), labels.data(), k))
        << "k=" << k;
  }

  labels[0] = static_cast<int32_t>(K);  // out of range: flagged, not a crash
  CUDA_CHECK(cudaMemcpy(d_labels.get(), labels.data(), d_labels.bytes(), cudaMemcpyHostToDevice));
  softmax_cross_entropy(N, K, d_logits.as<float>(), d_labels.as<int32_t>(), divisor, 1.0f, d_loss.as<double>(),
                        d_diff.as<float>(), d_bad.as<int>(), nullptr);
  CUDA_CHECK(cudaMemcpy(&bad, d_bad.get(), sizeof bad, cudaMemcpyDeviceToHost));
  EXPECT_EQ(bad, 1);
}

}  // namespace
}  // namespace bigbatch::backend::cuda
