// Fully connected layer: dst = src · weightsᵀ + bias. Layouts: src N×I, weights O×I (as
// PyTorch), bias O, dst N×O.
#pragma once

#include <cstdint>

namespace bigbatch::ops {

struct LinearParams {
  int64_t in_features = 0;
  int64_t out_features = 0;
  bool bias = true;
};

template <class T>
void linear_forward(const LinearParams& p, int64_t batch, const T* src, const T* weights, const T* bias, T* dst);
template <class T>
void linear_backward_data(const LinearParams& p, int64_t batch, const T* diff_dst, const T* weights, T* diff_src);
// Overwrites diff_weights and (when p.bias) diff_bias.
template <class T>
void linear_backward_weights(const LinearParams& p, int64_t batch, const T* src, const T* diff_dst, T* diff_weights,
                             T* diff_bias);

}  // namespace bigbatch::ops
