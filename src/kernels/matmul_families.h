// Internal: MatMul and DequantizeRow split by weight-type family, one dynamic
// dispatch TU each (matmul_float.cc, matmul_legacy.cc, matmul_kquant.cc) so
// that no single TU instantiates every decoder for every SIMD target. ops.cc
// routes by type.
#pragma once

#include <cstdint>

#include "kernels/ops.h"

namespace gemma::kernels {

// F32, F16, BF16.
void MatMulFloat(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                 int64_t y_stride, ThreadPool& pool);
void DequantizeRowFloat(const WeightMatrix& w, int64_t r, float* out);

// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.
void MatMulLegacy(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                  int64_t y_stride, ThreadPool& pool);
void DequantizeRowLegacy(const WeightMatrix& w, int64_t r, float* out);

// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
void MatMulKQuant(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                  int64_t y_stride, ThreadPool& pool);
void DequantizeRowKQuant(const WeightMatrix& w, int64_t r, float* out);

}  // namespace gemma::kernels
