// Rectified linear unit on any dense array of `count` elements.
#pragma once

#include <cstdint>

namespace bigbatch::ops {

template <class T>
void relu_forward(int64_t count, const T* src, T* dst);
// diff_src = diff_dst where dst > 0, else 0 (dst is the forward's output).
template <class T>
void relu_backward(int64_t count, const T* dst, const T* diff_dst, T* diff_src);

}  // namespace bigbatch::ops
