// cuBLAS fully connected layer vs the reference (ops/linear.h): forward with bias, backward
// data (overwrite and accumulate), backward weights and bias, in f32, bf16 and f16.
#include "bigbatch/backend/cuda/linear.h"

#include <gtest/gtest.h>

#include "backend/cuda/cuda_test_util.h"
#include "testing/op_params.h"

namespace bigbatch::backend::cuda {
namespace {

using namespace testing;

TEST(CudaLinearTest, ForwardAndBackwardMatchReference) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  const ops::LinearParams p = bigbatch::testing::linear_params(37, 11, true);
  const int64_t N = 5;
  for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(dtype));
    Context ctx;
    Linear fc(p, N, dtype, /*allow_tf32=*/false);
    const auto src = random_values(N * 37, 31, dtype), w = random_values(11 * 37, 32, dtype);
    const auto b = random_values(11, 33, dtype), dd = random_values(N * 11, 34, dtype);
    const auto old = random_values(N * 37, 35, dtype);
    std::vector<double> dst(N * 11), ds(N * 37), dw(11 * 37), db(11);
    ops::linear_forward(p, N, src.data(), w.data(), b.data(), dst.data());
    ops::linear_backward_data(p, N, dd.data(), w.data(), ds.data());
    ops::linear_backward_weights(p, N, src.data(), dd.data(), dw.data(), db.data());

    DeviceArray d_src(src, dtype), d_w(w, dtype), d_b(b, dtype), d_dd(dd, dtype), d_ds(old, dtype);
    DeviceArray d_dst(std::vector<double>(dst.size()), dtype), d_dw(std::vector<double>(dw.size()), dtype);
    DeviceArray d_db(std::vector<double>(db.size()), dtype);
    fc.forward(ctx, d_src.get(), d_w.get(), d_b.get(), d_dst.get());
    EXPECT_TRUE(close(dst, d_dst.download(), dtype)) << "forward";
    fc.backward_data(ctx, d_dd.get(), d_w.get(), d_ds.get(), /*accumulate=*/true);
    std::vector<double> accumulated = ds;
    for (size_t i = 0; i < ds.size(); ++i) accumulated[i] += old[i];
    EXPECT_TRUE(close(accumulated, d_ds.download(), dtype)) << "backward_data, accumulate";
    fc.backward_data(ctx, d_dd.get(), d_w.get(), d_ds.get(), false);
    EXPECT_TRUE(close(ds, d_ds.download(), dtype)) << "backward_data";
    fc.backward_weights(ctx, d_src.get(), d_dd.get(), d_dw.get(), d_db.get());
    EXPECT_TRUE(close(dw, d_dw.download(), dtype)) << "diff_weights";
    EXPECT_TRUE(close(db, d_db.download(), dtype)) << "diff_bias";
  }
}

}  // namespace
}  // namespace bigbatch::backend::cuda
