// RECIPE §4 and §6: v virtual workers in one pass (ghost batch norm over groups of n, loss
// divided by kn) compute exactly what v separate workers compute and sum.
#include <gtest/gtest.h>

#include <vector>

#include "bigbatch/core/rng.h"
#include "bigbatch/models/registry.h"
#include "bigbatch/nn/executor.h"
#include "bigbatch/nn/init.h"
#include "bigbatch/ops/softmax_cross_entropy.h"
#include "testing/gradcheck.h"

namespace bigbatch::train {
namespace {

TEST(VirtualWorkers, GhostBatchNormEqualsSeparateWorkersSummed) {
  constexpr int64_t kWorkers = 4, kN = 8, kBatch = kWorkers * kN;
  nn::Graph graph = models::build_model({"resnet8", 1, 16, 16, 10});
  Arena params(graph.parameter_layout()), buffers(graph.buffer_layout());
  Rng rng(3);
  nn::initialize(graph, params, buffers, rng, {/*zero_gamma=*/false});  // non-zero γ: every path matters
  Arena buffers_start(graph.buffer_layout());
  buffers_start.copy_from(buffers);

  Tensor images = Tensor::zeros({kBatch, 1, 16, 16});
  testing::fill_uniform(images.data<float>(), images.numel(), 11);
  std::vector<int32_t> labels(kBatch);
  for (int64_t i = 0; i < kBatch; ++i) labels[static_cast<size_t>(i)] = static_cast<int32_t>(rng.below(10));

  // All workers at once.
  Arena grads_all(graph.parameter_layout());
  auto all = nn::make_cpu_executor({&graph, &params, &grads_all, &buffers}, {kBatch, kN, DType::f32});
  all->forward(images, true);
  Tensor diff = Tensor::zeros({kBatch, 10});
  double loss_all = ops::softmax_cross_entropy_forward(kBatch, 10, all->logits().data<float>(), labels.data(),
                                                       static_cast<double>(kBatch));
  ops::softmax_cross_entropy_backward(kBatch, 10, all->logits().data<float>(), labels.data(),
                                      static_cast<double>(kBatch), diff.data<float>());
  all->backward(diff);

  // One worker at a time, each with its own BN statistics, loss divided by the global kn.
  Arena grads_one(graph.parameter_layout()), grads_sum(graph.parameter_layout());
  Arena buffers_one(graph.buffer_layout()), running_mean_sum(graph.buffer_layout());
  auto one = nn::make_cpu_executor({&graph, &params, &grads_one, &buffers_one}, {kN, kN, DType::f32});
  Tensor diff_one = Tensor::zeros({kN, 10});
  double loss_sum = 0.0;
  for (int64_t w = 0; w < kWorkers; ++w) {
    buffers_one.copy_from(buffers_start);
    const int32_t* y = labels.data() + w * kN;
    one->forward(images.slice(w * kN, (w + 1) * kN), true);
    loss_sum += ops::softmax_cross_entropy_forward(kN, 10, one->logits().data<float>(), y, static_cast<double>(kBatch));
    ops::softmax_cross_entropy_backward(kN, 10, one->logits().data<float>(), y, static_cast<double>(kBatch),
                                        diff_one.data<float>());
    one->backward(diff_one);
    for (int64_t i = 0; i < grads_sum.total_elems(); ++i) grads_sum.data()[i] += grads_one.data()[i];
    for (int64_t i = 0; i < running_mean_sum.total_elems(); ++i)
      running_mean_sum.data()[i] += buffers_one.data()[i] / kWorkers;
  }
  EXPECT_NEAR(loss_all, loss_sum, 1e-6 * std::abs(loss_all));
  testing::expect_near_relative(grads_all.data(), grads_sum.data(), grads_all.total_elems(), 1e-4, 1e-6);
  // Running statistics: the mean over workers of each worker's update.
  testing::expect_near_relative(buffers.data(), running_mean_sum.data(), buffers.total_elems(), 1e-5, 1e-6);
}

}  // namespace
}  // namespace bigbatch::train
