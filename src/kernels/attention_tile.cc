// The two products of tiled attention (model/attention.cc), reading K and V
// rows straight from the cache in f32, bf16 or f16: widening happens in
// registers, so a decode step reads each cached byte once and copies nothing.
//
// Batch invariance: every (query, key) score is summed over head dims in the
// same order (vector lanes, then one lane reduction), and every (query, dim)
// output over keys in order j = 0, 1, ..., however many queries share the
// call and however the registers are blocked. A query's result therefore does
// not depend on how the prompt was split into steps, which the 8-bit
// activation path needs (chunked and one-pass prefill must agree bit for bit).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "base/error.h"
#include "base/half.h"
#include "kernels/inline_lambda.h"
#include "kernels/ops.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/attention_tile.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace gemma {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Lanes [i, i + Lanes) of a row of T, widened to f32.
template <typename T>
HWY_INLINE VF LoadWide(DF df, const T* HWY_RESTRICT row, size_t i) {
  if constexpr (std::is_same_v<T, float>) {
    return hn::LoadU(df, row + i);
  } else {
    return hn::PromoteTo(df, hn::LoadU(hn::Rebind<T, DF>(), row + i));
  }
}

template <typename T>
float ToFloat(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return x;
  } else if constexpr (std::is_same_v<T, hwy::bfloat16_t>) {
    return hwy::F32FromBF16(x);
  } else {
    uint16_t bits;
    std::memcpy(&bits, &x, sizeof(bits));
    return F16ToF32(bits);
  }
}

// Scores of G queries (rows `d` apart) against keys [j, j + K). K = 2 gives
// 2G independent FMA chains, enough to hide the FMA latency at G = 4.
//
// The accumulators are a parameter pack, acc_I for query I / K and key I % K,
// not an array: SVE's sizeless vector types cannot be array elements, but can
// be function parameters. Fold expressions over I unroll the tile. A step
// names each query vector K times and each key vector G times; the compiler
// loads (and widens) each once, as nothing is stored in between.
template <int G, int K, typename T>
HWY_INLINE void ScoresGK(const float* HWY_RESTRICT q, int d, const void* const* key_rows, int j,
                         float* HWY_RESTRICT scores, int score_stride) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const T* HWY_RESTRICT key[K];
  HWY_UNROLL(16)
  for (int k = 0; k < K; ++k) key[k] = static_cast<const T*>(key_rows[j + k]);
  const auto tile = [&]<int... I>(std::integer_sequence<int, I...>) GEMMA_INLINE_LAMBDA {
    [&](auto... acc) GEMMA_INLINE_LAMBDA {
      for (size_t i = 0; i < static_cast<size_t>(d); i += N) {
        ((acc = hn::MulAdd(hn::LoadU(df, q + static_cast<size_t>(I / K) * d + i),
                           LoadWide(df, key[I % K], i), acc)),
         ...);
      }
      ((scores[static_cast<size_t>(I / K) * score_stride + j + I % K] =
            hn::GetLane(hn::SumOfLanes(df, acc))),
       ...);
    }(((void)I, hn::Zero(df))...);
  };
  tile(std::make_integer_sequence<int, G * K>());
}

template <int G, typename T>
HWY_INLINE void ScoresG(const float* HWY_RESTRICT q, int d, const void* const* key_rows, int count,
                        float* HWY_RESTRICT scores, int score_stride) {
  int j = 0;
  for (; j + 2 <= count; j += 2) ScoresGK<G, 2, T>(q, d, key_rows, j, scores, score_stride);
  if (j < count) ScoresGK<G, 1, T>(q, d, key_rows, j, scores, score_stride);
}

// Head sizes that are not a multiple of the vector: one lane, in order.
template <typename T>
void ScoresScalar(const float* queries, int nq, int d, const void* const* key_rows, int count,
                  float* scores, int score_stride) {
  for (int q = 0; q < nq; ++q) {
    for (int j = 0; j < count; ++j) {
      const T* key = static_cast<const T*>(key_rows[j]);
      float sum = 0;
      for (int i = 0; i < d; ++i) sum += queries[static_cast<size_t>(q) * d + i] * ToFloat(key[i]);
      scores[static_cast<size_t>(q) * score_stride + j] = sum;
    }
  }
}

template <typename T>
void ValuesScalar(const float* probs, int prob_stride, int nq, const void* const* value_rows,
                  int count, int d, float* pv) {
  for (int q = 0; q < nq; ++q) {
    float* out = pv + static_cast<size_t>(q) * d;
    std::fill(out, out + d, 0.0f);
    for (int j = 0; j < count; ++j) {
      const T* value = static_cast<const T*>(value_rows[j]);
      const float p = probs[static_cast<size_t>(q) * prob_stride + j];
      for (int i = 0; i < d; ++i) out[i] += p * ToFloat(value[i]);
    }
  }
}

template <typename T>
void ScoresT(const float* queries, int nq, int d, const void* const* key_rows, int count,
             float* scores, int score_stride) {
  if (d % hn::Lanes(DF()) != 0) {
    return ScoresScalar<T>(queries, nq, d, key_rows, count, scores, score_stride);
  }
  int q = 0;
  for (; q + 8 <= nq; q += 8) {
    ScoresG<8, T>(queries + static_cast<size_t>(q) * d, d, key_rows, count,
                  scores + static_cast<size_t>(q) * score_stride, score_stride);
  }
  for (; q + 4 <= nq; q += 4) {
    ScoresG<4, T>(queries + static_cast<size_t>(q) * d, d, key_rows, count,
                  scores + static_cast<size_t>(q) * score_stride, score_stride);
  }
  for (; q < nq; ++q) {
    ScoresG<1, T>(queries + static_cast<size_t>(q) * d, d, key_rows, count,
                  scores + static_cast<size_t>(q) * score_stride, score_stride);
  }
}

// pv rows of G queries over C vectors of head dims starting at dim i0. The
// accumulators are a pack as in ScoresGK: acc_I for query I / C and vector
// I % C.
template <int G, int C, typename T>
HWY_INLINE void ValuesG(const float* HWY_RESTRICT probs, int prob_stride, const void* const* rows,
                        int count, int d, size_t i0, float* HWY_RESTRICT pv) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const auto tile = [&]<int... I>(std::integer_sequence<int, I...>) GEMMA_INLINE_LAMBDA {
    [&](auto... acc) GEMMA_INLINE_LAMBDA {
      for (int j = 0; j < count; ++j) {
        const T* HWY_RESTRICT value = static_cast<const T*>(rows[j]);
        ((acc = hn::MulAdd(hn::Set(df, probs[static_cast<size_t>(I / C) * prob_stride + j]),
                           LoadWide(df, value, i0 + I % C * N), acc)),
         ...);
      }
      (hn::StoreU(acc, df, pv + static_cast<size_t>(I / C) * d + i0 + I % C * N), ...);
    }(((void)I, hn::Zero(df))...);
  };
  tile(std::make_integer_sequence<int, G * C>());
}

template <int G, typename T>
HWY_INLINE void ValuesRows(const float* probs, int prob_stride, const void* const* rows, int count,
                           int d, float* pv) {
  const size_t N = hn::Lanes(DF());
  constexpr int C = G >= 4 ? 4 : 8;  // accumulators: G * C <= 16 (+ C values)
  const size_t vectors = static_cast<size_t>(d) / N;
  size_t v = 0;
  for (; v + C <= vectors; v += C) ValuesG<G, C, T>(probs, prob_stride, rows, count, d, v * N, pv);
  for (; v < vectors; ++v) ValuesG<G, 1, T>(probs, prob_stride, rows, count, d, v * N, pv);
}

template <typename T>
void ValuesT(const float* probs, int prob_stride, int nq, const void* const* value_rows, int count,
             int d, float* pv) {
  if (d % hn::Lanes(DF()) != 0) {
    return ValuesScalar<T>(probs, prob_stride, nq, value_rows, count, d, pv);
  }
  int q = 0;
  for (; q + 4 <= nq; q += 4) {
    ValuesRows<4, T>(probs + static_cast<size_t>(q) * prob_stride, prob_stride, value_rows, count,
                     d, pv + static_cast<size_t>(q) * d);
  }
  for (; q + 2 <= nq; q += 2) {
    ValuesRows<2, T>(probs + static_cast<size_t>(q) * prob_stride, prob_stride, value_rows, count,
                     d, pv + static_cast<size_t>(q) * d);
  }
  for (; q < nq; ++q) {
    ValuesRows<1, T>(probs + static_cast<size_t>(q) * prob_stride, prob_stride, value_rows, count,
                     d, pv + static_cast<size_t>(q) * d);
  }
}

void AttentionScoresT(const float* queries, int nq, int d, const void* const* key_rows, DType type,
                      int count, float* scores, int score_stride) {
  switch (type) {
    case DType::kF32:
      return ScoresT<float>(queries, nq, d, key_rows, count, scores, score_stride);
    case DType::kBF16:
      return ScoresT<hwy::bfloat16_t>(queries, nq, d, key_rows, count, scores, score_stride);
    case DType::kF16:
      return ScoresT<hwy::float16_t>(queries, nq, d, key_rows, count, scores, score_stride);
    default:
      Fail("attention rows of type ", Name(type), " must be widened first");
  }
}

void AttentionValuesT(const float* probs, int prob_stride, int nq, const void* const* value_rows,
                      DType type, int count, int d, float* pv) {
  switch (type) {
    case DType::kF32:
      return ValuesT<float>(probs, prob_stride, nq, value_rows, count, d, pv);
    case DType::kBF16:
      return ValuesT<hwy::bfloat16_t>(probs, prob_stride, nq, value_rows, count, d, pv);
    case DType::kF16:
      return ValuesT<hwy::float16_t>(probs, prob_stride, nq, value_rows, count, d, pv);
    default:
      Fail("attention rows of type ", Name(type), " must be widened first");
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace gemma
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace gemma {

HWY_EXPORT(AttentionScoresT);
HWY_EXPORT(AttentionValuesT);

bool AttentionReadsDirectly(DType type) {
  return type == DType::kF32 || type == DType::kBF16 || type == DType::kF16;
}

void AttentionScores(const float* queries, int nq, int d, const void* const* key_rows, DType type,
                     int count, float* scores, int score_stride) {
  HWY_DYNAMIC_DISPATCH(AttentionScoresT)
  (queries, nq, d, key_rows, type, count, scores, score_stride);
}

void AttentionValues(const float* probs, int prob_stride, int nq, const void* const* value_rows,
                     DType type, int count, int d, float* pv) {
  HWY_DYNAMIC_DISPATCH(AttentionValuesT)(probs, prob_stride, nq, value_rows, type, count, d, pv);
}

}  // namespace gemma
#endif  // HWY_ONCE
