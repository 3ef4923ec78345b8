// The attention-tile products (kernels/attention_tile.cc) with AVX512_BF16
// dot products, for a bf16 KV cache outside --exact: queries and
// probabilities are rounded to bf16 (nearest even) and `vdpbf16ps` multiplies
// pairs of them with the cached rows as they lie, accumulating in f32. That
// halves the multiply instructions of the f32 kernels, which on 2-cycle
// 512-bit FMA cores (AMD Zen 4) bound decode at long context. llama.cpp
// computes a bf16 cache's scores the same way. Highway 1.0 has no bf16 dot
// product, hence intrinsics; other targets report the path unavailable.
//
// Batch invariance as in attention_tile.cc: each score sums its head dims in
// one fixed order (32 per instruction, then a lane reduction), and each output
// dim sums keys in pairs (j, j + 1) from j = 0, however many queries share the
// call. Pairs are aligned to the tile, whose start is aligned to absolute
// positions, so a query meets the same pairs however the prompt was batched.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/ops.h"
#include "kernels/scratch.h"
#include "kernels/target_extensions.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_bf16.cc"
#include "hwy/aligned_allocator.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace gemma {
namespace HWY_NAMESPACE {

#if HWY_TARGET == HWY_AVX3_DL
GEMMA_PUSH_AVX512_VNNI_BF16

// n (a multiple of 32) floats to bf16, round to nearest even.
void ToBf16(const float* x, size_t n, __m512bh* out) {
  for (size_t i = 0; i < n; i += 32) {
    out[i / 32] = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
  }
}

// Scores of G queries (bf16, `blocks` vectors of 32 each) against keys [j, j + K).
template <int G, int K>
HWY_INLINE void ScoresGK(const __m512bh* q, int blocks, const void* const* key_rows, int j,
                         float* scores, int score_stride) {
  const __m512bh* key[K];
  for (int k = 0; k < K; ++k) key[k] = static_cast<const __m512bh*>(key_rows[j + k]);
  __m512 acc[G][K];
  HWY_UNROLL(16)
  for (int g = 0; g < G; ++g) {
    HWY_UNROLL(16)
    for (int k = 0; k < K; ++k) acc[g][k] = _mm512_setzero_ps();
  }
  for (int b = 0; b < blocks; ++b) {
    __m512bh kv[K];
    HWY_UNROLL(16)
    for (int k = 0; k < K; ++k) {
      kv[k] = (__m512bh)_mm512_loadu_si512(reinterpret_cast<const void*>(key[k] + b));
    }
    HWY_UNROLL(16)
    for (int g = 0; g < G; ++g) {
      const __m512bh qv = q[static_cast<size_t>(g) * blocks + b];
      HWY_UNROLL(16)
      for (int k = 0; k < K; ++k) acc[g][k] = _mm512_dpbf16_ps(acc[g][k], qv, kv[k]);
    }
  }
  HWY_UNROLL(16)
  for (int g = 0; g < G; ++g) {
    HWY_UNROLL(16)
    for (int k = 0; k < K; ++k) {
      scores[static_cast<size_t>(g) * score_stride + j + k] = _mm512_reduce_add_ps(acc[g][k]);
    }
  }
}

template <int G>
HWY_INLINE void ScoresG(const __m512bh* q, int blocks, const void* const* key_rows, int count,
                        float* scores, int score_stride) {
  int j = 0;
  for (; j + 2 <= count; j += 2) ScoresGK<G, 2>(q, blocks, key_rows, j, scores, score_stride);
  if (j < count) ScoresGK<G, 1>(q, blocks, key_rows, j, scores, score_stride);
}

bool ScoresBf16T(const float* queries, int nq, int d, const void* const* key_rows, int count,
                 float* scores, int score_stride) {
  if (d % 32 != 0) return false;
  const int blocks = d / 32;
  __m512bh* q = ThreadScratch<struct QueriesBf16, __m512bh>(static_cast<size_t>(nq) * blocks);
  ToBf16(queries, static_cast<size_t>(nq) * d, q);
  int i = 0;
  for (; i + 4 <= nq; i += 4) {
    ScoresG<4>(q + static_cast<size_t>(i) * blocks, blocks, key_rows, count,
               scores + static_cast<size_t>(i) * score_stride, score_stride);
  }
  for (; i < nq; ++i) {
    ScoresG<1>(q + static_cast<size_t>(i) * blocks, blocks, key_rows, count,
               scores + static_cast<size_t>(i) * score_stride, score_stride);
  }
  return true;
}

// pv of G queries over C blocks of 32 dims from block b0. Two value rows are
// interleaved per 16-bit element, so that each 32-bit lane holds (V[j][i],
// V[j + 1][i]) and meets the probability pair (p_j, p_j+1). unpacklo/hi work
// within 128-bit lanes: `lo` covers dims {0-3, 8-11, 16-19, 24-27} of the
// block and `hi` {4-7, 12-15, 20-23, 28-31}; the store puts them back in order.
template <int G, int C>
HWY_INLINE void ValuesGC(const uint32_t* pairs, int pair_stride, const void* const* rows, int count,
                         int b0, float* pv, int d) {
  __m512 lo[G][C], hi[G][C];
  HWY_UNROLL(16)
  for (int g = 0; g < G; ++g) {
    HWY_UNROLL(16)
    for (int c = 0; c < C; ++c) lo[g][c] = hi[g][c] = _mm512_setzero_ps();
  }
  for (int j = 0; j < count; j += 2) {
    const __m512i* r0 = static_cast<const __m512i*>(rows[j]);
    // An odd last key pairs with itself under probability zero.
    const __m512i* r1 = static_cast<const __m512i*>(rows[j + 1 < count ? j + 1 : j]);
    __m512bh vlo[C], vhi[C];
    HWY_UNROLL(16)
    for (int c = 0; c < C; ++c) {
      const __m512i a = _mm512_loadu_si512(r0 + b0 + c);
      const __m512i b = _mm512_loadu_si512(r1 + b0 + c);
      vlo[c] = (__m512bh)_mm512_unpacklo_epi16(a, b);
      vhi[c] = (__m512bh)_mm512_unpackhi_epi16(a, b);
    }
    HWY_UNROLL(16)
    for (int g = 0; g < G; ++g) {
      const __m512bh p = (__m512bh)_mm512_set1_epi32(
          static_cast<int>(pairs[static_cast<size_t>(g) * pair_stride + j / 2]));
      HWY_UNROLL(16)
      for (int c = 0; c < C; ++c) {
        lo[g][c] = _mm512_dpbf16_ps(lo[g][c], p, vlo[c]);
        hi[g][c] = _mm512_dpbf16_ps(hi[g][c], p, vhi[c]);
      }
    }
  }
  const __m512i first = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const __m512i second =
      _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  HWY_UNROLL(16)
  for (int g = 0; g < G; ++g) {
    HWY_UNROLL(16)
    for (int c = 0; c < C; ++c) {
      float* out = pv + static_cast<size_t>(g) * d + (b0 + c) * 32;
      _mm512_storeu_ps(out, _mm512_permutex2var_ps(lo[g][c], first, hi[g][c]));
      _mm512_storeu_ps(out + 16, _mm512_permutex2var_ps(lo[g][c], second, hi[g][c]));
    }
  }
}

template <int G>
HWY_INLINE void ValuesG(const uint32_t* pairs, int pair_stride, const void* const* rows, int count,
                        int d, float* pv) {
  constexpr int C = G >= 4 ? 2 : 4;  // 4 G C accumulators + 2 C values
  const int blocks = d / 32;
  int b = 0;
  for (; b + C <= blocks; b += C) ValuesGC<G, C>(pairs, pair_stride, rows, count, b, pv, d);
  for (; b < blocks; ++b) ValuesGC<G, 1>(pairs, pair_stride, rows, count, b, pv, d);
}

bool ValuesBf16T(const float* probs, int prob_stride, int nq, const void* const* value_rows,
                 int count, int d, float* pv) {
  if (d % 32 != 0) return false;
  // Probabilities to bf16, 32 at a time: adjacent bf16 (p_j, p_j+1) are one
  // u32 pair. Keys past `count` load as zero, so an odd count gets a zero
  // partner.
  const int vectors = (count + 31) / 32;
  const int pair_stride = 16 * vectors;
  uint32_t* pairs =
      ThreadScratch<struct ProbabilityPairs, uint32_t>(static_cast<size_t>(nq) * pair_stride);
  for (int g = 0; g < nq; ++g) {
    const float* p = probs + static_cast<size_t>(g) * prob_stride;
    for (int v = 0; v < vectors; ++v) {
      const int k0 = 32 * v, left = count - k0;
      const auto first = static_cast<__mmask16>(left >= 16 ? 0xFFFF : (1u << left) - 1);
      const auto second = static_cast<__mmask16>(left >= 32   ? 0xFFFF
                                                 : left <= 16 ? 0
                                                              : (1u << (left - 16)) - 1);
      const __m512bh bf = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(second, p + k0 + 16),
                                              _mm512_maskz_loadu_ps(first, p + k0));
      _mm512_storeu_si512(pairs + static_cast<size_t>(g) * pair_stride + 16 * v,
                          reinterpret_cast<const __m512i&>(bf));
    }
  }
  int i = 0;
  for (; i + 4 <= nq; i += 4) {
    ValuesG<4>(pairs + static_cast<size_t>(i) * pair_stride, pair_stride, value_rows, count, d,
               pv + static_cast<size_t>(i) * d);
  }
  for (; i < nq; ++i) {
    ValuesG<1>(pairs + static_cast<size_t>(i) * pair_stride, pair_stride, value_rows, count, d,
               pv + static_cast<size_t>(i) * d);
  }
  return true;
}

GEMMA_POP_AVX512_VNNI_BF16
#else
bool ScoresBf16T(const float*, int, int, const void* const*, int, float*, int) { return false; }
bool ValuesBf16T(const float*, int, int, const void* const*, int, int, float*) { return false; }
#endif  // HWY_TARGET == HWY_AVX3_DL

bool Bf16DotTargetT() { return HWY_TARGET == HWY_AVX3_DL; }

}  // namespace HWY_NAMESPACE
}  // namespace gemma
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace gemma {

HWY_EXPORT(ScoresBf16T);
HWY_EXPORT(ValuesBf16T);
HWY_EXPORT(Bf16DotTargetT);

bool AttentionBf16DotAvailable() {
#if HWY_ARCH_X86
  static const bool available =
      HWY_DYNAMIC_DISPATCH(Bf16DotTargetT)() && __builtin_cpu_supports("avx512bf16");
  return available;
#else
  return false;
#endif
}

bool AttentionScoresBf16(const float* queries, int nq, int d, const void* const* key_rows,
                         int count, float* scores, int score_stride) {
  if (!AttentionBf16DotAvailable()) return false;
  return HWY_DYNAMIC_DISPATCH(ScoresBf16T)(queries, nq, d, key_rows, count, scores, score_stride);
}

bool AttentionValuesBf16(const float* probs, int prob_stride, int nq, const void* const* value_rows,
                         int count, int d, float* pv) {
  if (!AttentionBf16DotAvailable()) return false;
  return HWY_DYNAMIC_DISPATCH(ValuesBf16T)(probs, prob_stride, nq, value_rows, count, d, pv);
}

}  // namespace gemma
#endif  // HWY_ONCE
