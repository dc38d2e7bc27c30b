// Without a usable GPU, asking for the CUDA executor fails with one clear message: "built
// without CUDA" in a build without it, "no CUDA device" in a CUDA build on a machine without
// one. Skipped where a device exists (tests/backend/cuda covers that case).
#include <gtest/gtest.h>

#include <string>

#include "bigbatch/backend/cuda/device.h"
#include "bigbatch/core/error.h"
#include "bigbatch/nn/cuda_executor.h"

namespace bigbatch::nn {
namespace {

TEST(CudaUnavailableTest, MakeCudaExecutorSaysWhy) {
  if (backend::cuda::device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  Graph g;
  g.set_output(g.linear("fc", g.global_avg_pool(g.input(1, 2, 2)), {1, 2, true}));
  Arena params(g.parameter_layout()), buffers(g.buffer_layout());
  try {
    make_cuda_executor({&g, &params, nullptr, &buffers}, {2, 0, DType::f32});
    FAIL() << "expected BackendError";
  } catch (const BackendError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("[cuda] ", 0), 0u) << message;
    if (backend::cuda::built_with_cuda())
      EXPECT_NE(message.find("no CUDA device"), std::string::npos) << message;
    else
      EXPECT_NE(message.find("bigbatch was built without CUDA"), std::string::npos) << message;
  }
  EXPECT_THROW(make_executor({.device = Device::cuda}, {&g, &params, nullptr, &buffers}, {2, 0, DType::f32}),
               BackendError);
}

TEST(CudaUnavailableTest, PrecisionNames) {
  DType precision = DType::f32;
  bool tf32 = false;
  parse_cuda_precision("tf32", precision, tf32);
  EXPECT_EQ(precision, DType::f32);
  EXPECT_TRUE(tf32);
  parse_cuda_precision("f16", precision, tf32);
  EXPECT_EQ(precision, DType::f16);
  EXPECT_FALSE(tf32);
  EXPECT_THROW(parse_cuda_precision("fp8", precision, tf32), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::nn
