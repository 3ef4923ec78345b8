// Scalar references of the ops in kernels/ops.h: plain loops, accumulated in
// double, so they serve as the "exact" value the SIMD kernels are compared
// against. Weights are widened with quant/'s DequantizeRowRef. Header-only
// (the library glob does not reach this folder); used by tests and benches.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/ops.h"
#include "quant/quant.h"

namespace gemma::ref {

// The reference result of MatMul and, per output, the bound on its f32
// rounding error: sum_c |W[r, c] * x[t, c]| (see the tests for the factor).
struct MatMulRefResult {
  std::vector<double> y;        // [num_tokens, rows]
  std::vector<double> abs_dot;  // [num_tokens, rows]
};

// Per element, |q * d| + |m| for the affine types (w = q * d - m or q * d + m:
// Q4_1, Q5_1, Q2_K, Q4_K, Q5_K) and |w| for the others. Kernels may fuse the
// multiply and the add (or not), so a dequantized weight can differ from
// DequantizeRowRef's by half an ulp of q * d, which this bounds. Computed by
// dequantizing copies of the blocks with the min (then the scale) zeroed.
inline void DequantTermMagnitudes(DType type, const void* src, int64_t n, float* out) {
  int d_offset = -1, m_offset = -1;
  switch (type) {
    case DType::kQ4_1:
    case DType::kQ5_1:
    case DType::kQ4_K:
    case DType::kQ5_K:
      d_offset = 0;
      m_offset = 2;
      break;
    case DType::kQ2_K:
      d_offset = 80;
      m_offset = 82;
      break;
    default:
      break;
  }
  if (m_offset < 0) {
    DequantizeRowRef(type, src, out, n);
    for (int64_t i = 0; i < n; ++i) out[i] = std::fabs(out[i]);
    return;
  }
  const DTypeInfo& info = Info(type);
  const size_t bytes = BytesFor(type, n);
  const int64_t blocks = n / info.block_elems;
  std::vector<uint8_t> only_scale(bytes), only_min(bytes);
  std::memcpy(only_scale.data(), src, bytes);
  std::memcpy(only_min.data(), src, bytes);
  for (int64_t b = 0; b < blocks; ++b) {
    const size_t base = static_cast<size_t>(b) * static_cast<size_t>(info.block_bytes);
    std::memset(only_scale.data() + base + m_offset, 0, 2);
    std::memset(only_min.data() + base + d_offset, 0, 2);
  }
  std::vector<float> qd(static_cast<size_t>(n)), m(static_cast<size_t>(n));
  DequantizeRowRef(type, only_scale.data(), qd.data(), n);
  DequantizeRowRef(type, only_min.data(), m.data(), n);
  for (int64_t i = 0; i < n; ++i) out[i] = std::fabs(qd[i]) + std::fabs(m[i]);
}

inline MatMulRefResult MatMulRef(const WeightMatrix& w, const float* x, int64_t num_tokens) {
  MatMulRefResult out;
  const size_t n = static_cast<size_t>(num_tokens * w.rows);
  out.y.assign(n, 0.0);
  out.abs_dot.assign(n, 0.0);
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    DequantizeRowRef(w.type, w.Row(r), row.data(), w.cols);
    for (int64_t t = 0; t < num_tokens; ++t) {
      double sum = 0.0, abs_sum = 0.0;
      const float* xt = x + t * w.cols;
      for (int64_t c = 0; c < w.cols; ++c) {
        const double p = static_cast<double>(row[static_cast<size_t>(c)]) * xt[c];
        sum += p;
        abs_sum += std::fabs(p);
      }
      out.y[static_cast<size_t>(t * w.rows + r)] = sum;
      out.abs_dot[static_cast<size_t>(t * w.rows + r)] = abs_sum;
    }
  }
  return out;
}

inline void RMSNormRef(const float* x, const float* gain, float eps, int64_t n, double* out) {
  double sum_sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
  const double scale = 1.0 / std::sqrt(sum_sq / static_cast<double>(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * gain[i];
}

inline double GeluTanhRef(double g) {
  const double kSqrt2OverPi = 0.79788456080286535588;
  return 0.5 * g * (1.0 + std::tanh(kSqrt2OverPi * (g + 0.044715 * g * g * g)));
}

// out[i] = gelu_tanh(gate[i]) * x[i].
inline void GeluTanhMulRef(const float* gate, const float* x, int64_t n, double* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = GeluTanhRef(gate[i]) * x[i];
}

inline void SoftCapRef(float cap, const float* x, int64_t n, double* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = cap * std::tanh(static_cast<double>(x[i]) / cap);
}

inline void SoftmaxRef(const float* x, int64_t n, double* out) {
  double max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::max(max, static_cast<double>(x[i]));
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = std::exp(x[i] - max);
    sum += out[i];
  }
  for (int64_t i = 0; i < n; ++i) out[i] /= sum;
}

inline double DotRef(const float* a, const float* b, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

inline void AddScaledRef(float a, const float* x, const float* out_in, int64_t n, double* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = out_in[i] + static_cast<double>(a) * x[i];
}

}  // namespace gemma::ref
