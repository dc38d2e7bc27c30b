// Element types and devices a tensor can have, and bf16 <-> f32 conversion.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>

namespace bigbatch {

enum class DType { f32, bf16, f16 };
enum class Device { cpu, cuda };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);    // "f32", "bf16", "f16"
DType parse_dtype(const std::string&);  // throws InvalidArgument on an unknown name
const char* device_name(Device device);  // "cpu", "cuda"

// bf16 is the top half of an f32; rounding to nearest even, NaN kept NaN.
inline uint16_t f32_to_bf16(float x) {
  uint32_t bits = std::bit_cast<uint32_t>(x);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

inline float bf16_to_f32(uint16_t x) { return std::bit_cast<float>(static_cast<uint32_t>(x) << 16); }

}  // namespace bigbatch
