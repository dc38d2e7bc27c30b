// Reference channel concatenation: literal small cases, odd shapes against the definition
// dst[n, offset_i + c] = src_i[n, c] (batch 1 and 3, 1/3/5 channels, H != W), float and double,
// the gradient vs finite differences, and shape errors.
#include "bigbatch/ops/concat.h"

#include <gtest/gtest.h>

#include <numeric>
#include <ostream>
#include <string>
#include <vector>

#include "bigbatch/core/error.h"
#include "testing/gradcheck.h"

namespace bigbatch::ops {
namespace {

using testing::check_gradient;
using testing::dot;
using testing::nan_vector;
using testing::random_vector;

// Pointer spans over a vector of arrays, as the op takes them.
template <class T>
std::vector<const T*> const_ptrs(const std::vector<std::vector<T>>& v) {
  std::vector<const T*> p;
  for (const auto& a : v) p.push_back(a.data());
  return p;
}

template <class T>
std::vector<T*> ptrs(std::vector<std::vector<T>>& v) {
  std::vector<T*> p;
  for (auto& a : v) p.push_back(a.data());
  return p;
}

TEST(Concat, TwoInputsLiteral) {
  // N = 2, C = 1 + 2, 1x1: each example takes input 0's channel, then input 1's two.
  const std::vector<Dims4> dims = {{2, 1, 1, 1}, {2, 2, 1, 1}};
  const std::vector<std::vector<double>> srcs = {{1, 2}, {10, 11, 20, 21}};
  auto dst = nan_vector(6);
  concat_forward<double>(dims, const_ptrs(srcs), dst.data());
  EXPECT_EQ(dst, (std::vector<double>{1, 10, 11, 2, 20, 21}));

  std::vector<std::vector<double>> diffs = {nan_vector(2), nan_vector(4)};
  concat_backward<double>(dims, dst.data(), ptrs(diffs));
  EXPECT_EQ(diffs[0], srcs[0]);
  EXPECT_EQ(diffs[1], srcs[1]);
}

TEST(Concat, SpatialBlocksStayWhole) {
  // N = 1, 1x2 images: a channel's H·W values are copied as one block.
  const std::vector<Dims4> dims = {{1, 1, 1, 2}, {1, 2, 1, 2}, {1, 1, 1, 2}};
  const std::vector<std::vector<float>> srcs = {{1, 2}, {3, 4, 5, 6}, {7, 8}};
  auto dst = nan_vector<float>(8);
  concat_forward<float>(dims, const_ptrs(srcs), dst.data());
  EXPECT_EQ(dst, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
}

struct ConcatCase {
  int64_t n, h, w;
  std::vector<int64_t> channels;
};

std::ostream& operator<<(std::ostream& os, const ConcatCase& c) {
  os << "N " << c.n << " " << c.h << "x" << c.w << " channels";
  for (const int64_t ch : c.channels) os << " " << ch;
  return os;
}

class ConcatCases : public ::testing::TestWithParam<ConcatCase> {
 protected:
  std::vector<Dims4> dims() const {
    std::vector<Dims4> d;
    for (const int64_t ch : GetParam().channels) d.push_back({GetParam().n, ch, GetParam().h, GetParam().w});
    return d;
  }
};

// Every dst element against src_i[n, c - offset_i, h, w], i the input owning channel c.
template <class T>
void check_definition(const std::vector<Dims4>& dims) {
  const Dims4 d = concat_dst_dims(dims);
  std::vector<std::vector<T>> srcs;
  for (size_t i = 0; i < dims.size(); ++i) srcs.push_back(random_vector<T>(dims[i].numel(), 10 + i));
  auto dst = nan_vector<T>(d.numel());
  concat_forward<T>(dims, const_ptrs(srcs), dst.data());
  const auto diff_dst = random_vector<T>(d.numel(), 20);
  std::vector<std::vector<T>> diff_srcs;
  for (const Dims4& s : dims) diff_srcs.push_back(nan_vector<T>(s.numel()));
  concat_backward<T>(dims, diff_dst.data(), ptrs(diff_srcs));

  for (int64_t n = 0; n < d.n; ++n) {
    for (int64_t c = 0; c < d.c; ++c) {
      size_t i = 0;
      int64_t local = c;
      while (local >= dims[i].c) local -= dims[i++].c;
      for (int64_t s = 0; s < d.spatial(); ++s) {
        const size_t at_dst = static_cast<size_t>((n * d.c + c) * d.spatial() + s);
        const size_t at_src = static_cast<size_t>((n * dims[i].c + local) * d.spatial() + s);
        ASSERT_EQ(dst[at_dst], srcs[i][at_src]) << "dst n " << n << " c " << c << " s " << s;
        ASSERT_EQ(diff_srcs[i][at_src], diff_dst[at_dst]) << "diff_src " << i << " n " << n << " c " << local;
      }
    }
  }
}

TEST_P(ConcatCases, MatchesDefinition) {
  check_definition<double>(dims());
  check_definition<float>(dims());
}

TEST_P(ConcatCases, DstDims) {
  const ConcatCase& c = GetParam();
  const int64_t total = std::accumulate(c.channels.begin(), c.channels.end(), int64_t{0});
  EXPECT_EQ(concat_dst_dims(dims()), (Dims4{c.n, total, c.h, c.w}));
}

// L = Σ dst·r is linear, so central differences are exact up to rounding: every input, every entry.
TEST_P(ConcatCases, GradientsMatchFiniteDifferences) {
  const std::vector<Dims4> d = dims();
  const Dims4 dd = concat_dst_dims(d);
  std::vector<std::vector<double>> srcs;
  for (size_t i = 0; i < d.size(); ++i) srcs.push_back(random_vector(d[i].numel(), 30 + i));
  const auto r = random_vector(dd.numel(), 40);
  auto dst = nan_vector(dd.numel());
  auto loss = [&] {
    concat_forward<double>(d, const_ptrs(srcs), dst.data());
    return dot(dst.data(), r.data(), dd.numel());
  };
  std::vector<std::vector<double>> diff_srcs;
  for (const Dims4& s : d) diff_srcs.push_back(nan_vector(s.numel()));
  concat_backward<double>(d, r.data(), ptrs(diff_srcs));
  for (size_t i = 0; i < d.size(); ++i) {
    EXPECT_TRUE(check_gradient(loss, srcs[i].data(), d[i].numel(), diff_srcs[i].data())) << "input " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConcatCases,
                         ::testing::Values(ConcatCase{1, 3, 2, {1, 3, 5}}, ConcatCase{3, 3, 2, {1, 3, 5}},
                                           ConcatCase{3, 2, 5, {5, 1}}, ConcatCase{1, 1, 7, {3, 1, 1, 5}},
                                           ConcatCase{3, 4, 3, {3, 3}}));

TEST(Concat, EmptyBatch) {
  const std::vector<Dims4> dims = {{0, 2, 3, 3}, {0, 1, 3, 3}};
  EXPECT_EQ(concat_dst_dims(dims), (Dims4{0, 3, 3, 3}));
  const std::vector<const float*> srcs = {nullptr, nullptr};
  concat_forward<float>(dims, srcs, nullptr);  // nothing to copy
}

void expect_error(const std::vector<Dims4>& dims, const std::string& prefix) {
  try {
    concat_dst_dims(dims);
    ADD_FAILURE() << "no exception for " << prefix;
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()).rfind(prefix, 0), 0u) << e.what();
  }
}

TEST(Concat, ShapeErrorsThrow) {
  expect_error({}, "[concat] expected at least 2 inputs, got 0");
  expect_error({{1, 3, 4, 4}}, "[concat] expected at least 2 inputs, got 1");
  expect_error({{2, 3, 4, 4}, {3, 3, 4, 4}},
               "[concat] expected inputs that agree in N, H and W, got input 0 2x3x4x4 "
               "and input 1 3x3x4x4");
  expect_error({{2, 3, 4, 4}, {2, 1, 4, 4}, {2, 3, 5, 4}}, "[concat] expected inputs that agree in N, H and W");
  expect_error({{2, 3, 4, 4}, {2, 3, 4, 3}}, "[concat] expected inputs that agree in N, H and W");
  expect_error({{2, 3, 4, 4}, {2, 0, 4, 4}}, "[concat] expected a non-empty image with channels, got input 1 2x0x4x4");
  expect_error({{2, 3, 0, 4}, {2, 3, 0, 4}}, "[concat] expected a non-empty image with channels, got input 0");

  const std::vector<Dims4> dims = {{1, 1, 1, 1}, {1, 1, 1, 1}};
  const std::vector<double> a = {1}, b = {2};
  double dst[2], diff_a[1];
  const std::vector<const double*> one = {a.data()};
  EXPECT_THROW(concat_forward<double>(dims, one, dst), InvalidArgument);
  const std::vector<double*> one_diff = {diff_a};
  EXPECT_THROW(concat_backward<double>(dims, dst, one_diff), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::ops
