// optim::Sgd on arenas that live on the GPU (the fused kernel, LARS's chunk sums there) vs the
// same optimizer on the CPU: u-form, v-form with correction, Nesterov, LARS, weight decay by
// role, three steps with a changing learning rate over a real parameter layout.
#include "bigbatch/backend/cuda/sgd.h"

#include <gtest/gtest.h>

#include "backend/cuda/cuda_test_util.h"
#include "bigbatch/models/registry.h"
#include "bigbatch/nn/device_arena.h"
#include "bigbatch/optim/sgd.h"

namespace bigbatch::backend::cuda {
namespace {

void expect_gpu_matches_cpu(const optim::SgdOptions& options) {
  const nn::Graph graph = models::build_model({"resnet8", 1, 16, 16, 10});
  const auto layout = graph.parameter_layout();
  optim::Sgd cpu(layout, options), gpu(layout, options, Device::cuda);
  Arena params(layout), grads(layout), got(layout);
  // Padding stays zero in the arenas; fill tensors only.
  for (int i = 0; i < layout->size(); ++i)
    bigbatch::testing::fill_uniform(params.tensor(i).data<float>(), params.tensor(i).numel(), 60 + i);
  const Arena d_params = nn::make_arena(layout, Device::cuda), d_grads = nn::make_arena(layout, Device::cuda);
  nn::copy_arena(d_params, params);
  for (int step = 0; step < 3; ++step) {
    for (int i = 0; i < layout->size(); ++i)
      bigbatch::testing::fill_uniform(grads.tensor(i).data<float>(), grads.tensor(i).numel(), 100 * step + i);
    nn::copy_arena(d_grads, grads);
    const double lr = 0.1 * (step + 1);
    cpu.step(params, grads, lr);
    gpu.step(d_params, d_grads, lr);
  }
  nn::copy_arena(got, d_params);
  EXPECT_TRUE(bigbatch::testing::near_relative(got.data(), params.data(), params.total_elems(), 1e-5, 1e-6));
  for (int i = 0; i < layout->size(); ++i) EXPECT_NEAR(gpu.lars_local(i), cpu.lars_local(i), 1e-9 * cpu.lars_local(i));
}

TEST(CudaSgdTest, MatchesTheCpuOptimizer) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  expect_gpu_matches_cpu({.momentum = 0.9, .weight_decay = 1e-3});
  expect_gpu_matches_cpu({.momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
  expect_gpu_matches_cpu({.momentum = 0.9, .weight_decay = 1e-3, .v_form = true});
  expect_gpu_matches_cpu({.momentum = 0.9, .weight_decay = 1e-3, .kind = optim::OptimizerKind::lars, .lars_eta = 0.01});
  expect_gpu_matches_cpu(
      {.momentum = 0.9, .weight_decay = 1e-3, .v_form = true, .kind = optim::OptimizerKind::lars, .lars_eta = 0.01});
}

TEST(CudaSgdTest, RejectsArenasOnAnotherDevice) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  const nn::Graph graph = models::build_model({"resnet8", 1, 16, 16, 10});
  optim::Sgd gpu(graph.parameter_layout(), {}, Device::cuda);
  Arena host(graph.parameter_layout());
  EXPECT_THROW(gpu.step(host, host, 0.1), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::backend::cuda
