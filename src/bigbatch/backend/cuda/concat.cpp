// Concatenation as cudaMemcpy2DAsync calls, one per input: the runtime's strided copy
// moves each input's rows into (or out of) its slice of dst without a kernel of ours. Only an
// accumulating backward needs arithmetic, and that is eltwise's add_2d on the same slice.
#include "bigbatch/backend/cuda/concat.h"

#include "bigbatch/backend/cuda/check.h"
#include "bigbatch/backend/cuda/eltwise.h"
#include "bigbatch/core/error.h"

namespace bigbatch::backend::cuda {

namespace {

// Input i's slice of dst: `rows` rows of `cols` elements, row r at offset + r·pitch (elements).
// Its own array is the same rows packed (pitch = cols).
struct Slice {
  int64_t rows, cols, pitch, offset;
};

Slice slice_of(Layout layout, std::span<const ops::Dims4> src_dims, size_t input) {
  const ops::Dims4 d = ops::concat_dst_dims(src_dims);
  BIGBATCH_CHECK(input < src_dims.size(),
                 "[concat] expected an input index below " << src_dims.size() << ", got " << input);
  int64_t before = 0;  // channels of the inputs ahead of this one
  for (size_t j = 0; j < input; ++j) before += src_dims[j].c;
  const int64_t c = src_dims[input].c, HW = d.spatial();
  switch (layout) {
    case Layout::nchw:
      return {d.n, c * HW, d.c * HW, before * HW};
    case Layout::nhwc:
      return {d.n * HW, c, d.c, before};
  }
  return {0, 0, 0, 0};
}

// Pitches in elements, scaled by elem here. cudaMemcpy2DAsync wants pitch >= width, which holds
// (a slice is no wider than dst), and pitches within the device's cudaDevAttrMaxPitch (far above
// one example's C·H·W in NCHW for any ConvNet activation).
void copy_rows(const Slice& s, size_t elem, const void* src, size_t src_pitch, void* dst, size_t dst_pitch,
               cudaStream_t stream) {
  if (s.rows == 0) return;
  CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_pitch * elem, src, src_pitch * elem, static_cast<size_t>(s.cols) * elem,
                               static_cast<size_t>(s.rows), cudaMemcpyDeviceToDevice, stream));
}

}  // namespace

void concat_forward(DType dtype, Layout layout, std::span<const ops::Dims4> src_dims, std::span<const void* const> srcs,
                    void* dst, cudaStream_t stream) {
  BIGBATCH_CHECK(srcs.size() == src_dims.size(),
                 "[concat] expected one array per input, got " << srcs.size() << " for " << src_dims.size());
  const size_t elem = dtype_size(dtype);
  for (size_t i = 0; i < srcs.size(); ++i) {
    const Slice s = slice_of(layout, src_dims, i);
    copy_rows(s, elem, srcs[i], static_cast<size_t>(s.cols), static_cast<char*>(dst) + s.offset * elem,
              static_cast<size_t>(s.pitch), stream);
  }
}

void concat_backward(DType dtype, Layout layout, std::span<const ops::Dims4> src_dims, size_t input,
                     const void* diff_dst, void* diff_src, bool accumulate, cudaStream_t stream) {
  const Slice s = slice_of(layout, src_dims, input);
  const size_t elem = dtype_size(dtype);
  const void* from = static_cast<const char*>(diff_dst) + s.offset * elem;
  if (accumulate) {
    add_2d(dtype, s.rows, s.cols, from, s.pitch, diff_src, s.cols, stream);
    return;
  }
  copy_rows(s, elem, from, static_cast<size_t>(s.pitch), diff_src, static_cast<size_t>(s.cols), stream);
}

}  // namespace bigbatch::backend::cuda
