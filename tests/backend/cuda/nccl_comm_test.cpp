// The NCCL communicator on one GPU (a group of one rank, bootstrapped over the in-process
// communicator): host-buffer collectives, the stream-ordered allreduce, and the gradient
// reducer driving it in buckets during a GPU backward. Real multi-GPU runs are not covered
// here (one GPU per test machine).
#include "bigbatch/comm/nccl_comm.h"

#include <gtest/gtest.h>

#include <vector>

#include "backend/cuda/cuda_test_util.h"
#include "bigbatch/backend/cuda/arena_ops.h"
#include "bigbatch/comm/gradient_reducer.h"
#include "bigbatch/comm/inprocess_comm.h"
#include "bigbatch/models/registry.h"
#include "bigbatch/nn/cuda_executor.h"
#include "bigbatch/nn/device_arena.h"
#include "bigbatch/nn/init.h"

namespace bigbatch::comm {
namespace {

TEST(NcclCommTest, OneRankCollectives) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  if (!built_with_nccl()) GTEST_SKIP() << "built without NCCL";
  auto group = make_inprocess_group(1);
  std::unique_ptr<NcclCommunicator> nccl = make_nccl_communicator(*group[0], 0);
  EXPECT_EQ(nccl->size(), 1);
  std::vector<double> v{1.5, -2.0};
  nccl->allreduce_sum(v.data(), 2);
  EXPECT_EQ(v, (std::vector<double>{1.5, -2.0}));
  int64_t bytes[3] = {7, 8, 9}, gathered[3] = {};
  nccl->allgather(bytes, gathered, sizeof bytes);
  EXPECT_EQ(gathered[2], 9);
  nccl->broadcast(bytes, sizeof bytes, 0);
  nccl->barrier();
  std::vector<double> host{1.0, 2.0, 3.0};
  backend::cuda::DeviceBuffer d = backend::cuda::testing::upload_f32(host);
  backend::cuda::StreamOwner stream = backend::cuda::make_stream();
  nccl->allreduce_sum_on_stream(d.as<float>(), 3, stream.get())->wait();
  CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  EXPECT_EQ(backend::cuda::testing::download_f32(d.as<float>(), 3), host);
}

// The reducer on the GPU's compute stream in small buckets, hooked into a real backward: with
// one rank the sum is the gradient itself, so the arena must match a backward without it.
TEST(NcclCommTest, ReducerOnTheComputeStreamDuringBackward) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  if (!built_with_nccl()) GTEST_SKIP() << "built without NCCL";
  auto group = make_inprocess_group(1);
  std::unique_ptr<NcclCommunicator> nccl = make_nccl_communicator(*group[0], 0);
  const nn::Graph graph = models::build_model({"resnet8", 1, 16, 16, 10});
  Arena params(graph.parameter_layout()), buffers(graph.buffer_layout());
  Rng rng(9);
  nn::initialize(graph, params, buffers, rng);
  const Arena d_params = nn::make_arena(graph.parameter_layout(), Device::cuda);
  const Arena d_buffers = nn::make_arena(graph.buffer_layout(), Device::cuda);
  const Arena d_grads = nn::make_arena(graph.parameter_layout(), Device::cuda);
  Tensor src = Tensor::zeros(Shape{8, 1, 16, 16});
  bigbatch::testing::fill_uniform(src.data<float>(), src.numel(), 4);
  Tensor diff = Tensor::zeros(Shape{8, 10});
  bigbatch::testing::fill_uniform(diff.data<float>(), diff.numel(), 5);
  auto executor = nn::make_cuda_executor({&graph, &d_params, &d_grads, &d_buffers}, {8, 4, DType::f32});
  ReducerOptions options{.bucket_cap_bytes = 4096, .overlap = true, .stream = backend::cuda::current_stream()};
  GradientReducer reducer(graph.gradient_ranges(), d_grads, *nccl, options);
  ASSERT_GT(reducer.buckets().size(), 3u);
  Arena without(graph.parameter_layout()), with(graph.parameter_layout());
  for (bool reduce : {false, true}) {
    nn::copy_arena(d_params, params);
    nn::copy_arena(d_buffers, buffers);
    executor->forward(src, true);
    if (reduce) reducer.begin_step();
    executor->backward(diff, reduce ? reducer.hook() : nn::GradsReadyHook{});
    if (reduce) reducer.finish();
    nn::copy_arena(reduce ? with : without, d_grads);
  }
  // Not bitwise: BN's f64 atomics sum chunks in any order.
  EXPECT_TRUE(bigbatch::testing::near_relative(with.data(), without.data(), with.total_elems(), 1e-5, 1e-7));
}

}  // namespace
}  // namespace bigbatch::comm
