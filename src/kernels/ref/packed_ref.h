// Scalar reference of the integer MatMul path (kernels/packed_matmul.h), read
// from the original (unpacked) block formats of ../shared/spec: activations
// quantized to 8-bit blocks, exact integer dot products per block, scales
// applied in double. The SIMD kernels must agree to f32 rounding; any packing
// or indexing error shows as a wrong integer sum.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "base/half.h"
#include "kernels/packed_matmul.h"
#include "quant/blocks.h"

namespace gemma::ref {

struct QuantizedActivationsRef {
  std::vector<int8_t> q;     // [tokens, cols]
  std::vector<float> d;      // [tokens, cols / scale_block]
  std::vector<int32_t> sum;  // [tokens, cols / sum_block]
};

inline QuantizedActivationsRef QuantizeActivationsRef(const float* x, int64_t tokens, int64_t cols,
                                                      ActivationBlocks blocks) {
  QuantizedActivationsRef a;
  a.q.resize(static_cast<size_t>(tokens * cols));
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t k0 = 0; k0 < cols; k0 += blocks.scale_block) {
      float amax = 0.0f;
      bool finite = true;
      for (int i = 0; i < blocks.scale_block; ++i) {
        amax = std::max(amax, std::fabs(x[t * cols + k0 + i]));
        finite = finite && std::isfinite(x[t * cols + k0 + i]);
      }
      // Inf or NaN: levels 0, scale NaN; a scale whose inverse overflows: levels 0.
      const float d = finite ? amax / 127.0f : std::numeric_limits<float>::quiet_NaN();
      float inv = finite && d != 0.0f ? 1.0f / d : 0.0f;
      if (std::isinf(inv)) inv = 0.0f;
      a.d.push_back(d);
      for (int i = 0; i < blocks.scale_block; ++i) {
        // nearbyint: round to nearest even, as the SIMD conversion does.
        a.q[static_cast<size_t>(t * cols + k0 + i)] =
            finite ? static_cast<int8_t>(std::nearbyint(x[t * cols + k0 + i] * inv)) : 0;
      }
    }
    for (int64_t k0 = 0; k0 < cols; k0 += blocks.sum_block) {
      int32_t s = 0;
      for (int i = 0; i < blocks.sum_block; ++i) s += a.q[static_cast<size_t>(t * cols + k0 + i)];
      a.sum.push_back(s);
    }
  }
  return a;
}

// y[t, r] for the integer path, from w.data (original layout), and per output
// the sum of the per-block terms' magnitudes (bounds the kernels' f32 rounding).
struct PackedRefResult {
  std::vector<double> y, abs_terms;  // [tokens, rows]
};

inline PackedRefResult MatMulPackedRef(const WeightMatrix& w, const float* x, int64_t tokens) {
  if (w.type == DType::kBF16) {
    // x as hi + lo bf16 values (hi = bf16(x), lo = bf16(x - hi), nearest
    // even), each multiplied by the bf16 weight; products summed exactly.
    PackedRefResult out;
    out.y.resize(static_cast<size_t>(tokens * w.rows));
    out.abs_terms.resize(out.y.size());
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t r = 0; r < w.rows; ++r) {
        const auto* wr = reinterpret_cast<const uint16_t*>(w.Row(r));
        double total = 0, abs_total = 0;
        for (int64_t k = 0; k < w.cols; ++k) {
          const float xk = x[t * w.cols + k];
          const float hi = Bf16ToF32(F32ToBf16(xk));
          const float lo = Bf16ToF32(F32ToBf16(xk - hi));
          const double weight = Bf16ToF32(wr[k]);
          for (const double term : {weight * hi, weight * lo}) {
            total += term;
            abs_total += std::fabs(term);
          }
        }
        out.y[static_cast<size_t>(t * w.rows + r)] = total;
        out.abs_terms[static_cast<size_t>(t * w.rows + r)] = abs_total;
      }
    }
    return out;
  }
  const ActivationBlocks blocks = ActivationBlocksFor(w.type);
  const QuantizedActivationsRef a = QuantizeActivationsRef(x, tokens, w.cols, blocks);
  const int64_t cols = w.cols;
  PackedRefResult out;
  out.y.resize(static_cast<size_t>(tokens * w.rows));
  out.abs_terms.resize(out.y.size());
  for (int64_t t = 0; t < tokens; ++t) {
    const int8_t* xq = &a.q[static_cast<size_t>(t * cols)];
    const float* xd = &a.d[static_cast<size_t>(t * cols / blocks.scale_block)];
    for (int64_t r = 0; r < w.rows; ++r) {
      const uint8_t* row = w.Row(r);
      double total = 0, abs_total = 0;
      auto add = [&](double term) {
        total += term;
        abs_total += std::fabs(term);
      };
      if (w.type == DType::kQ4_1 || w.type == DType::kQ5_1) {
        // w = d * level + m: the min meets the sum of the block's activations.
        for (int64_t b = 0; b < cols / kQK; ++b) {
          const bool q5 = w.type == DType::kQ5_1;
          const auto* b4 = reinterpret_cast<const BlockQ4_1*>(row) + b;
          const auto* b5 = reinterpret_cast<const BlockQ5_1*>(row) + b;
          const double dw = q5 ? b5->d.Get() : b4->d.Get();
          const double mw = q5 ? b5->m.Get() : b4->m.Get();
          const uint8_t* qs = q5 ? b5->qs : b4->qs;
          const uint32_t qh = q5 ? static_cast<uint32_t>(b5->qh[0]) | (b5->qh[1] << 8) |
                                       (b5->qh[2] << 16) | (static_cast<uint32_t>(b5->qh[3]) << 24)
                                 : 0;
          int32_t dot = 0, xs = 0;
          for (int i = 0; i < 16; ++i) {
            const int lo = (qs[i] & 0xF) | (((qh >> i) & 1) << 4);
            const int hi = (qs[i] >> 4) | (((qh >> (i + 16)) & 1) << 4);
            dot += lo * xq[b * kQK + i] + hi * xq[b * kQK + 16 + i];
            xs += xq[b * kQK + i] + xq[b * kQK + 16 + i];
          }
          add(dw * xd[b] * dot);
          add(mw * xd[b] * xs);
        }
      } else if (w.type == DType::kQ4_0 || w.type == DType::kQ5_0 || w.type == DType::kQ8_0) {
        for (int64_t b = 0; b < cols / kQK; ++b) {
          int32_t dot = 0;
          double dw;
          if (w.type == DType::kQ4_0) {
            const auto* blk = reinterpret_cast<const BlockQ4_0*>(row) + b;
            dw = blk->d.Get();
            for (int i = 0; i < 16; ++i) {
              dot += ((blk->qs[i] & 0xF) - 8) * xq[b * kQK + i];
              dot += ((blk->qs[i] >> 4) - 8) * xq[b * kQK + 16 + i];
            }
          } else if (w.type == DType::kQ5_0) {
            const auto* blk = reinterpret_cast<const BlockQ5_0*>(row) + b;
            dw = blk->d.Get();
            const uint32_t qh = static_cast<uint32_t>(blk->qh[0]) | (blk->qh[1] << 8) |
                                (blk->qh[2] << 16) | (static_cast<uint32_t>(blk->qh[3]) << 24);
            for (int i = 0; i < 16; ++i) {
              const int lo = (blk->qs[i] & 0xF) | (((qh >> i) & 1) << 4);
              const int hi = (blk->qs[i] >> 4) | (((qh >> (i + 16)) & 1) << 4);
              dot += (lo - 16) * xq[b * kQK + i];
              dot += (hi - 16) * xq[b * kQK + 16 + i];
            }
          } else {
            const auto* blk = reinterpret_cast<const BlockQ8_0*>(row) + b;
            dw = blk->d.Get();
            for (int i = 0; i < kQK; ++i) dot += blk->qs[i] * xq[b * kQK + i];
          }
          add(dw * xd[b] * dot);
        }
      } else if (w.type == DType::kQ4_K || w.type == DType::kQ5_K) {
        const bool q5 = w.type == DType::kQ5_K;
        for (int64_t b = 0; b < cols / kQK_K; ++b) {
          // The two blocks share d, dmin, scales and the nibble layout; Q5_K
          // adds bit j of qh[i] as bit 4 of value i of sub-block j.
          const auto* k4 = reinterpret_cast<const BlockQ4_K*>(row) + b;
          const auto* k5 = reinterpret_cast<const BlockQ5_K*>(row) + b;
          const Half16 d = q5 ? k5->d : k4->d, dmin = q5 ? k5->dmin : k4->dmin;
          const uint8_t* scales = q5 ? k5->scales : k4->scales;
          const uint8_t* qs = q5 ? k5->qs : k4->qs;
          const int8_t* xb = xq + b * kQK_K;
          for (int j = 0; j < 8; ++j) {
            int sc, m;
            UnpackScaleMinK4(scales, j, &sc, &m);
            int32_t dot = 0, xs = 0;
            for (int i = 0; i < 32; ++i) {
              const uint8_t byte = qs[32 * (j / 2) + i];
              int level = (j % 2 == 0) ? (byte & 0xF) : (byte >> 4);
              if (q5) level |= ((k5->qh[i] >> j) & 1) << 4;
              dot += level * xb[32 * j + i];
              xs += xb[32 * j + i];
            }
            const double dx = xd[b * 8 + j];
            add(dx * static_cast<double>(d.Get()) * sc * dot);
            add(-dx * static_cast<double>(dmin.Get()) * m * xs);
          }
        }
      } else if (w.type == DType::kQ2_K) {
        // Value v: 2 bits at bit 2j of qs[32h + l] (h = v / 128,
        // j = v % 128 / 32, l = v % 32); per 16 values a byte holding the
        // 4-bit scale (low nibble) and min (high): w = d sc q - dmin m.
        for (int64_t b = 0; b < cols / kQK_K; ++b) {
          const auto* blk = reinterpret_cast<const BlockQ2_K*>(row) + b;
          const int8_t* xb = xq + b * kQK_K;
          for (int k = 0; k < 16; ++k) {
            int32_t dot = 0, xs = 0;
            for (int i = 0; i < 16; ++i) {
              const int v = 16 * k + i, h = v / 128, j = v % 128 / 32, l = v % 32;
              dot += ((blk->qs[32 * h + l] >> (2 * j)) & 3) * xb[v];
              xs += xb[v];
            }
            const double dx = xd[b * 8 + k / 2];
            add(dx * blk->d.Get() * (blk->scales[k] & 0xF) * dot);
            add(-dx * blk->dmin.Get() * (blk->scales[k] >> 4) * xs);
          }
        }
      } else if (w.type == DType::kQ3_K) {
        // Value v: 2 bits at bit 2j of qs[32h + l], the third (set: no -4)
        // at bit 4h + j of hmask[l] (h = v / 128, j = v % 128 / 32,
        // l = v % 32); signed 6-bit scale per 16 values.
        for (int64_t b = 0; b < cols / kQK_K; ++b) {
          const auto* blk = reinterpret_cast<const BlockQ3_K*>(row) + b;
          const int8_t* xb = xq + b * kQK_K;
          int scales[16];
          UnpackScalesQ3K(blk->scales, scales);
          for (int k = 0; k < 16; ++k) {
            int32_t dot = 0;
            for (int i = 0; i < 16; ++i) {
              const int v = 16 * k + i, h = v / 128, j = v % 128 / 32, l = v % 32;
              const int level = ((blk->qs[32 * h + l] >> (2 * j)) & 3) -
                                (((blk->hmask[l] >> (4 * h + j)) & 1) ? 0 : 4);
              dot += level * xb[v];
            }
            add(static_cast<double>(xd[b * 8 + k / 2]) * blk->d.Get() * scales[k] * dot);
          }
        }
      } else if (w.type == DType::kQ6_K) {
        for (int64_t b = 0; b < cols / kQK_K; ++b) {
          const auto* blk = reinterpret_cast<const BlockQ6_K*>(row) + b;
          const int8_t* xb = xq + b * kQK_K;
          int32_t levels[kQK_K];
          for (int h = 0; h < 2; ++h) {
            const uint8_t* ql = blk->ql + 64 * h;
            const uint8_t* qh = blk->qh + 32 * h;
            for (int l = 0; l < 32; ++l) {
              levels[128 * h + l] = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
              levels[128 * h + l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
              levels[128 * h + l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
              levels[128 * h + l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            }
          }
          for (int j = 0; j < 16; ++j) {
            int32_t dot = 0;
            for (int i = 0; i < 16; ++i) dot += levels[16 * j + i] * xb[16 * j + i];
            add(static_cast<double>(xd[b * 8 + j / 2]) * blk->d.Get() * blk->scales[j] * dot);
          }
        }
      }
      out.y[static_cast<size_t>(t * w.rows + r)] = total;
      out.abs_terms[static_cast<size_t>(t * w.rows + r)] = abs_total;
    }
  }
  return out;
}

}  // namespace gemma::ref
