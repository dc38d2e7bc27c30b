// Internal to the .cu files: element-type conversion and dispatch over bigbatch's DType.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "bigbatch/core/dtype.h"
#include "bigbatch/core/error.h"

namespace bigbatch::backend::cuda::kernels {

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }

template <class T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <>
__device__ __forceinline__ __half from_f32<__half>(float x) { return __float2half_rn(x); }

// Calls f(T{}) with T the device type of dtype (float, __nv_bfloat16, __half).
template <class F>
void dispatch(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: f(float{}); return;
    case DType::bf16: f(__nv_bfloat16{}); return;
    case DType::f16: f(__half{}); return;
  }
}

}  // namespace bigbatch::backend::cuda::kernels
