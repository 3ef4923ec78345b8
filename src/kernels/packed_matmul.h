// The packed MatMul path: weights repacked at load time into groups of 16
// rows (one 32-bit lane per row of a 512-bit vector; AVX2 takes a group as two
// 8-row halves), activations rounded on the fly to 8-bit blocks (for BF16
// weights: split into two bf16 values, hi + lo, ~16 significant bits), and
// u8 x s8 dot products (AVX-512 VNNI, or AVX2's vpmaddubsw) accumulated in
// int32 within a block and f32 across blocks, or bf16 pair products
// (AVX512_BF16) accumulated in f32. Layouts and measurements:
// docs/kernels.md.
//
// Activations get one f32 scale per 32 values (as llama.cpp's Q8_0/Q8_1 and
// what ik_llama.cpp uses for prompts with every type here; one scale per 256
// values, as Q8_K, doubled the KL divergence on the Q4_K_M golden case).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/dtype.h"
#include "kernels/ops.h"

namespace gemma {

// Rows per packed group.
constexpr int kPackRows = 16;

// Whether the CPU (the chosen SIMD target) has the packed kernels: AVX-512
// VNNI, or AVX2.
bool PackedMatMulAvailable();

// Whether it has the packed BF16 kernel (AVX-512 VNNI and AVX512_BF16).
bool PackedMatMulHasBf16();

// Whether w can be packed and multiplied on the chosen SIMD target: Q4_0,
// Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K where PackedMatMulAvailable, and BF16
// where PackedMatMulHasBf16 (columns a multiple of the type's block).
bool PackedMatMulSupports(const WeightMatrix& w);

// Bytes of the packed copy of w (rows padded up to a multiple of kPackRows).
size_t PackedBytes(const WeightMatrix& w);

// Packs row groups [g0, g1) of w into out (the whole packed buffer).
void PackGroups(const WeightMatrix& w, int64_t g0, int64_t g1, uint8_t* out);

// Activation blocks for a quantized weight type as the scalar reference
// (kernels/ref/packed_ref.h) forms them: values per f32 scale, and values per
// integer sum (the offset and min terms need the sums). The kernels take the
// same sums in the form each consumes (SumForm in matmul_packed.cc).
struct ActivationBlocks {
  int scale_block;
  int sum_block;
};
ActivationBlocks ActivationBlocksFor(DType type);

namespace kernels {
// y = W x through w.packed (non-null). Only call when PackedMatMulSupports(w).
// precise: the int8 kernels take a second pass over each token's rounding
// error (see MatMulHead in ops.h); BF16 is always precise (hi + lo).
void MatMulPackedWeights(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                         int64_t y_stride, ThreadPool& pool, bool precise = false);

// MatMulPackedWeights for several matrices of one type and width on the same
// x (MatMulSameInput in ops.h): x rounded once, one ParallelFor over all the
// matrices' row groups. Each output gets the bits its own call would give.
struct PackedOutput {
  const WeightMatrix* w;
  float* y;
  int64_t y_stride;
};
void MatMulPackedSameInput(std::span<const PackedOutput> outputs, const float* x,
                           int64_t num_tokens, ThreadPool& pool);

// MatMulHeadFor (ops.h) on the packed weights (Q4_0, Q5_0, Q8_0; other types
// run the whole precise head).
void MatMulPackedHeadFor(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                         int64_t y_stride, ThreadPool& pool, std::span<const HeadRowUse> uses,
                         std::span<const float> row_abs_sums);
}  // namespace kernels

}  // namespace gemma
