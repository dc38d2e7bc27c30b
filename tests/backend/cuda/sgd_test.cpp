// The fused device SGD vs optim::Sgd (u-form, plain and Nesterov) over a real parameter
// layout: weight decay on conv/fc weights only (the paper's default), three steps with a
// changing learning rate.
#include "bigbatch/backend/cuda/sgd.h"

#include <gtest/gtest.h>

#include "backend/cuda/cuda_test_util.h"
#include "bigbatch/models/registry.h"
#include "bigbatch/optim/sgd.h"

namespace bigbatch::backend::cuda {
namespace {

using namespace testing;

TEST(CudaSgdTest, MatchesOptimSgd) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  const nn::Graph graph = models::build_model({"resnet8", 1, 16, 16, 10});
  const auto layout = graph.parameter_layout();
  for (bool nesterov : {false, true}) {
    SCOPED_TRACE(nesterov ? "nesterov" : "plain");
    const optim::SgdOptions options{.momentum = 0.9, .weight_decay = 1e-3, .nesterov = nesterov};
    optim::Sgd sgd(layout, options);
    std::vector<SgdSegment> segments;
    for (int i = 0; i < layout->size(); ++i) {
      const int64_t begin = i == 0 ? 0 : layout->entry(i).offset;
      const int64_t end = i + 1 < layout->size() ? layout->entry(i + 1).offset : layout->total_elems();
      const float decay = optim::applies_weight_decay(layout->entry(i).role, options) ? 1e-3f : 0.0f;
      segments.push_back({begin, end, decay});
    }
    Arena params(layout), grads(layout);
    const int64_t n = layout->total_elems();
    // Padding stays zero in the arenas; fill tensors only.
    for (int i = 0; i < layout->size(); ++i) {
      bigbatch::testing::fill_uniform(params.tensor(i).data<float>(), params.tensor(i).numel(), 60 + i);
    }
    DeviceBuffer w(static_cast<size_t>(n) * sizeof(float)), g(w.bytes()), u(w.bytes());
    DeviceBuffer segs(segments.size() * sizeof(SgdSegment));
    CUDA_CHECK(cudaMemcpy(w.get(), params.data(), w.bytes(), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(segs.get(), segments.data(), segs.bytes(), cudaMemcpyHostToDevice));
    for (int step = 0; step < 3; ++step) {
      for (int i = 0; i < layout->size(); ++i)
        bigbatch::testing::fill_uniform(grads.tensor(i).data<float>(), grads.tensor(i).numel(), 100 * step + i);
      CUDA_CHECK(cudaMemcpy(g.get(), grads.data(), g.bytes(), cudaMemcpyHostToDevice));
      const double lr = 0.1 * (step + 1);
      sgd.step(params, grads, lr);
      sgd_update(w.as<float>(), g.as<float>(), u.as<float>(), n, segs.as<SgdSegment>(),
                 static_cast<int>(segments.size()), 0.9f, static_cast<float>(lr), nesterov, nullptr, nullptr);
    }
    const std::vector<double> got = download_f32(w.as<float>(), n);
    EXPECT_TRUE(bigbatch::testing::near_relative(got.data(), params.data(), n, 1e-5, 1e-6));
  }
}

TEST(CudaSgdTest, SkipFlagLeavesEverythingUnchanged) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  const std::vector<double> ones(100, 1.0);
  DeviceBuffer w = upload_f32(ones), g = upload_f32(ones), u(w.bytes()), skip(sizeof(int)), segs(sizeof(SgdSegment));
  const SgdSegment seg{0, 100, 0.1f};
  const int one = 1;
  CUDA_CHECK(cudaMemcpy(segs.get(), &seg, sizeof seg, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(skip.get(), &one, sizeof one, cudaMemcpyHostToDevice));
  sgd_update(w.as<float>(), g.as<float>(), u.as<float>(), 100, segs.as<SgdSegment>(), 1, 0.9f, 0.5f, false,
             skip.as<int>(), nullptr);
  EXPECT_EQ(download_f32(w.as<float>(), 100), ones);
}

}  // namespace
}  // namespace bigbatch::backend::cuda
