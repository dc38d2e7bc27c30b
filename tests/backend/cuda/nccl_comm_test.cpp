// The NCCL communicator on one GPU (a group of one rank, bootstrapped over the in-process
// communicator): host-buffer collectives, the device allreduce on a stream, and the GPU
// executor's bucketed allreduce giving the same step as none. Real multi-GPU runs are not
// covered here (one GPU per test machine).
#include "bigbatch/comm/nccl_comm.h"

#include <gtest/gtest.h>

#include <vector>

#include "backend/cuda/cuda_test_util.h"
#include "bigbatch/comm/bucket_plan.h"
#include "bigbatch/comm/inprocess_comm.h"
#include "bigbatch/models/registry.h"
#include "bigbatch/nn/cuda_executor.h"
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
  nccl->allreduce_sum_device(d.as<float>(), 3, stream.get());
  CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  EXPECT_EQ(backend::cuda::testing::download_f32(d.as<float>(), 3), host);
}

TEST(NcclCommTest, ExecutorBucketsGiveTheSameStep) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  if (!built_with_nccl()) GTEST_SKIP() << "built without NCCL";
  auto group = make_inprocess_group(1);
  std::unique_ptr<NcclCommunicator> nccl = make_nccl_communicator(*group[0], 0);
  const nn::Graph graph = models::build_model({"resnet8", 1, 16, 16, 10});
  Arena params_a(graph.parameter_layout()), params_b(graph.parameter_layout());
  Arena buffers_a(graph.buffer_layout()), buffers_b(graph.buffer_layout());
  Rng rng(9);
  nn::initialize(graph, params_a, buffers_a, rng);
  params_b.copy_from(params_a);
  buffers_b.copy_from(buffers_a);
  Tensor src = Tensor::zeros(Shape{8, 1, 16, 16});
  bigbatch::testing::fill_uniform(src.data<float>(), src.numel(), 4);
  std::vector<int32_t> labels{0, 1, 2, 3, 4, 5, 6, 7};
  nn::DeviceSgd sgd;
  sgd.weight_decay.assign(static_cast<size_t>(graph.parameter_layout()->size()), 1e-4f);
  auto a = nn::make_cuda_executor({&graph, &params_a, nullptr, &buffers_a}, {8, 4, DType::f32});
  auto b = nn::make_cuda_executor({&graph, &params_b, nullptr, &buffers_b}, {8, 4, DType::f32});
  // Small buckets: several allreduces per step, each on the comm stream after its event.
  std::vector<ArenaRange> buckets;
  for (const Bucket& bucket : plan_buckets(graph.gradient_ranges(), graph.parameter_layout()->total_elems(), 4096))
    buckets.push_back({bucket.nodes.back(), bucket.begin, bucket.end});
  b->set_device_allreduce(
      [&](float* data, int64_t count, void* stream) { nccl->allreduce_sum_device(data, count, stream); },
      std::move(buckets));
  for (nn::CudaExecutor* e : {a.get(), b.get()}) {
    e->upload_state();
    for (int step = 0; step < 2; ++step) {
      e->stage_batch(src, labels.data());
      e->train_step(8.0, 0.1, sgd);
      e->wait_loss();
    }
    e->download_state();
  }
  // Not bitwise: BN's f64 atomics sum chunks in any order.
  EXPECT_TRUE(bigbatch::testing::near_relative(params_b.data(), params_a.data(), params_a.total_elems(), 1e-5, 1e-7));
}

}  // namespace
}  // namespace bigbatch::comm
