// Scalar reference conversions between f32 rows and the weight element types
// (plain floats and ggml's block formats, shared spec weight-formats.md C).
// These define the numerics: the SIMD kernels in kernels/ are tested against
// DequantizeRowRef, and QuantizeRowRef reproduces ggml's reference quantizers
// (quantize_row_*_ref, no importance matrix) so files we write match
// llama-quantize's bytes for the deterministic types.
#pragma once

#include <cstdint>
#include <cstring>

#include "base/dtype.h"

namespace gemma {

// Types DequantizeRowRef accepts: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
bool DequantizeSupports(DType type);

// Types QuantizeRowRef accepts: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// Q4_K, Q5_K, Q6_K.
bool QuantizeSupports(DType type);

// Widens n elements of `type` at src (BytesFor(type, n) bytes) into dst[0..n).
// n must be a multiple of the type's block size. Throws gemma::Error for an
// unsupported type or a bad n.
void DequantizeRowRef(DType type, const void* src, float* dst, int64_t n);

// Encodes src[0..n) as `type` into dst (BytesFor(type, n) bytes), the way
// ggml's reference quantizers do (round to nearest; the K-quants' scale
// search). n must be a multiple of the block size.
void QuantizeRowRef(DType type, const float* src, void* dst, int64_t n);

// ggml's nearest_int: round to nearest, ties to even, for |f| < 2^22.
inline int NearestInt(float f) {
  // Adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits.
  const float shifted = f + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  return (bits & 0x007fffff) - 0x00400000;
}

}  // namespace gemma
