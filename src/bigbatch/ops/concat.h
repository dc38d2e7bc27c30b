// Channel concatenation (torch.cat(dim=1)): dst N×(ΣC_i)×H×W from inputs N×C_i×H×W, in order.
// Its backward hands each input the slice of diff_dst at its channels.
#pragma once

#include <span>

#include "bigbatch/ops/dims.h"

namespace bigbatch::ops {

// dst extents of inputs that agree in N, H and W; throws InvalidArgument "[concat] ..." when
// they do not, or for fewer than two inputs.
Dims4 concat_dst_dims(std::span<const Dims4> srcs);

template <class T>
void concat_forward(std::span<const Dims4> src_dims, std::span<const T* const> srcs, T* dst);
// diff_srcs[i] = diff_dst[:, offset_i : offset_i + C_i]; overwrites.
template <class T>
void concat_backward(std::span<const Dims4> src_dims, const T* diff_dst, std::span<T* const> diff_srcs);

}  // namespace bigbatch::ops
