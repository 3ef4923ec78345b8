// The integer MatMul path: weights repacked at load time into groups of 16
// rows, activations quantized on the fly to 8-bit blocks, and u8 x s8 dot
// products (AVX-512 VNNI) accumulated in int32 within a block and in f32
// across blocks. Layouts and the reasoning behind them: docs/kernels.md.
//
// Activations get one f32 scale per 32 values (as llama.cpp's Q8_0/Q8_1, and
// what ik_llama.cpp uses for prompts with every type here; a scale per 256
// values, as Q8_K, doubled the KL divergence on the Q4_K_M golden case).
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/dtype.h"
#include "kernels/ops.h"

namespace gemma {

// Rows per packed group: one int32 lane per row in a 512-bit vector.
constexpr int kPackRows = 16;

// Whether the CPU (the chosen SIMD target) has the integer kernels.
bool Int8MatMulAvailable();

// Weight types with a packed layout: Q4_0, Q5_0, Q8_0, Q4_K, Q6_K.
bool Int8MatMulSupports(DType type);

// Bytes of the packed copy of w (rows padded up to a multiple of kPackRows).
size_t PackedInt8Bytes(const WeightMatrix& w);

// Packs row groups [g0, g1) of w into out (the whole packed buffer).
void PackInt8Groups(const WeightMatrix& w, int64_t g0, int64_t g1, uint8_t* out);

// Activation blocks for a weight type: values per f32 scale, and values per
// stored integer sum (the offset and min terms need sums of the levels).
struct ActivationBlocks {
  int scale_block;
  int sum_block;
};
ActivationBlocks ActivationBlocksFor(DType type);

namespace kernels {
// y = W x through w.packed (non-null). Only call when Int8MatMulAvailable().
void MatMulInt8(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                int64_t y_stride, ThreadPool& pool);
}  // namespace kernels

}  // namespace gemma
