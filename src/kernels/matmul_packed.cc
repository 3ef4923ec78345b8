// Dynamic-dispatch TU for the packed MatMul (kernels/packed_matmul.h). The
// kernels exist for AVX-512 VNNI (Highway's AVX3_DL target) and are written
// with its intrinsics: Highway 1.0 has no u8 x s8 or bf16 dot-product op.
// Every other target reports the path unavailable; the float kernels run.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "base/error.h"
#include "kernels/packed_matmul.h"
#include "kernels/scratch.h"
#include "threading/thread_pool.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_packed.cc"
#include "hwy/aligned_allocator.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace gemma {
namespace HWY_NAMESPACE {

#if HWY_TARGET == HWY_AVX3_DL
// Highway 1.0's AVX3_DL target string names "avxvnni" (the VEX form) but not
// avx512vnni, which the 512-bit dpbusd needs; every CPU the target accepts has
// it. AVX512_BF16 is not part of the target: the BF16 kernel only runs where
// kernels::CpuHasBf16Dot() (PackedMatMulSupports checks before packing).
#pragma GCC push_options
#pragma GCC target("avx512vnni,avx512bf16")

// Rounded activations of num_tokens rows: values q (value_bytes each: int8
// levels, or bf16) at q[(t * cols + k) * value_bytes]; for int8, one f32
// scale per scale_block values (d[t * cols / scale_block + b]) and the sum of
// the levels per sum_block values (sum[t * cols / sum_block + j]).
struct Activations {
  const int8_t* q;
  const float* d;
  const int32_t* sum;
  int64_t cols;
  int64_t scales_per_row;
  int64_t sums_per_row;
  int64_t value_bytes;
};

// q = round-to-nearest-even(x / d), d = max|x| / 127 per scale block; the sum
// of q per sum block. Same arithmetic as ref::QuantizeActivationsRef.
Activations QuantizeActivations(const float* x, int64_t num_tokens, int64_t cols,
                                ActivationBlocks blocks, int32_t sum_multiplier) {
  const int64_t per_scale = cols / blocks.scale_block;
  const int64_t per_sum = cols / blocks.sum_block;
  const size_t n = static_cast<size_t>(num_tokens);
  int8_t* q = ThreadScratch<struct ActivationLevels, int8_t>(n * static_cast<size_t>(cols));
  float* d = ThreadScratch<struct ActivationScales, float>(n * static_cast<size_t>(per_scale));
  int32_t* sum = ThreadScratch<struct ActivationSums, int32_t>(n * static_cast<size_t>(per_sum));
  const int vecs_per_scale = blocks.scale_block / 16;
  const int vecs_per_sum = blocks.sum_block / 16;
  for (size_t t = 0; t < n; ++t) {
    for (int64_t b = 0; b < per_scale; ++b) {
      const int64_t k0 = b * blocks.scale_block;
      const float* xb = x + t * static_cast<size_t>(cols) + k0;
      __m512 amax = _mm512_setzero_ps();
      for (int v = 0; v < vecs_per_scale; ++v) {
        amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_loadu_ps(xb + 16 * v)));
      }
      const float scale = _mm512_reduce_max_ps(amax) / 127.0f;
      const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
      d[t * static_cast<size_t>(per_scale) + static_cast<size_t>(b)] = scale;
      const __m512 vinv = _mm512_set1_ps(inv);
      int8_t* qb = q + t * static_cast<size_t>(cols) + k0;
      int32_t* sb = sum + t * static_cast<size_t>(per_sum) + k0 / blocks.sum_block;
      __m512i acc = _mm512_setzero_si512();
      for (int v = 0; v < vecs_per_scale; ++v) {
        const __m512i qi = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + 16 * v), vinv));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(qb + 16 * v), _mm512_cvtsepi32_epi8(qi));
        acc = _mm512_add_epi32(acc, qi);
        if ((v + 1) % vecs_per_sum == 0) {
          sb[v / vecs_per_sum] = sum_multiplier * _mm512_reduce_add_epi32(acc);
          acc = _mm512_setzero_si512();
        }
      }
    }
  }
  return {q, d, sum, cols, per_scale, per_sum, 1};
}

// x rounded to bf16 (nearest even), for the BF16 kernel.
Activations ConvertActivationsBf16(const float* x, int64_t num_tokens, int64_t cols) {
  const size_t n = static_cast<size_t>(num_tokens * cols);
  int8_t* out = ThreadScratch<struct ActivationsBf16, int8_t>(2 * n);
  for (size_t i = 0; i < n; i += 32) {  // cols is a multiple of 32
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
    _mm512_storeu_si512(out + 2 * i, reinterpret_cast<const __m512i&>(v));
  }
  return {out, nullptr, nullptr, cols, 0, 0, 2};
}

// The 4 activation bytes starting at p, broadcast to every lane.
HWY_INLINE __m512i Broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

HWY_INLINE __m512 LoadHalves(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

HWY_INLINE __m512i Load(const uint8_t* p) { return _mm512_loadu_si512(p); }

HWY_INLINE __m512i WidenU8(const uint8_t* p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
HWY_INLINE __m512i WidenS8(const uint8_t* p) {
  return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Per weight type: the bytes of one group-block and a kernel that adds NT
// tokens' dot products with one group-block into acc[t] (16 rows each).
// xq[t] points at the block's first quantized activation of token t; dx[t]
// at its scale(s), sx[t] at its sum(s).
// The activation preparation of the int8 kernels: scale per 32, sums per
// kSumBlock values, stored times kSumMultiplier (-offset for the kernels that
// start each block's integer sum at -offset * sum(x), saving an operation per
// token and block).
template <int kSumBlock, int kSumMultiplier>
struct Int8Activations {
  static constexpr int kValueBytes = 1;
  static Activations Prepare(const float* x, int64_t num_tokens, int64_t cols) {
    return QuantizeActivations(x, num_tokens, cols, {32, kSumBlock}, kSumMultiplier);
  }
};

// The shared end of the Q4_0/Q4_1/Q5_0/Q5_1 kernels: lo[s] / hi[s] hold the
// 16 rows' unsigned levels of values 4s.. and 16 + 4s.. of a 32-value block
// (dw its scales). Without kMin (Q4_0, Q5_0: w = d * (level - offset)) each
// token's integer sum starts at -offset * sum(x), the activation sums being
// stored premultiplied, and one FMA applies dw * dx. With kMin (Q4_1, Q5_1:
// w = d * level + m) it starts at 0 and a second FMA adds m * dx * sum(x).
template <int NT, bool kMin>
HWY_INLINE void NibbleBlockDots(const __m512i* lo, const __m512i* hi, __m512 dw, __m512 mw,
                                const int8_t* const* xq, const float* const* dx,
                                const int32_t* const* sx, __m512* acc) {
  __m512i a[NT];  // steps outside, tokens inside: NT chains side by side
  for (int t = 0; t < NT; ++t) a[t] = kMin ? _mm512_setzero_si512() : _mm512_set1_epi32(sx[t][0]);
  for (int s = 0; s < 4; ++s) {
    for (int t = 0; t < NT; ++t) a[t] = _mm512_dpbusd_epi32(a[t], lo[s], Broadcast4(xq[t] + 4 * s));
    for (int t = 0; t < NT; ++t) {
      a[t] = _mm512_dpbusd_epi32(a[t], hi[s], Broadcast4(xq[t] + 16 + 4 * s));
    }
  }
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[t]), _mm512_mul_ps(dw, _mm512_set1_ps(dx[t][0])),
                             acc[t]);
    if constexpr (kMin) {
      acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(dx[t][0] * static_cast<float>(sx[t][0])), acc[t]);
    }
  }
}

// Q4_0 (levels are q + 8) and Q4_1 (levels q, and the 16 rows' f16 mins
// after the scales).
template <bool kMin>
struct KernelQ4 : Int8Activations<32, kMin ? 1 : -8> {
  static constexpr size_t kGroupBlockBytes = kMin ? 320 : 288;
  static constexpr int kBlockElems = 32;
  static constexpr int kTileTokens = 8;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, const int8_t* const* xq, const float* const* dx,
                             const int32_t* const* sx, __m512* acc) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const uint8_t* steps = p + (kMin ? 64 : 32);
    __m512i lo[4], hi[4];
    for (int s = 0; s < 4; ++s) {
      const __m512i l = Load(steps + 64 * s);
      lo[s] = _mm512_and_si512(l, m4);
      hi[s] = _mm512_and_si512(_mm512_srli_epi16(l, 4), m4);
    }
    const __m512 mw = kMin ? LoadHalves(p + 32) : _mm512_setzero_ps();
    NibbleBlockDots<NT, kMin>(lo, hi, LoadHalves(p), mw, xq, dx, sx, acc);
  }
};
using KernelQ4_0 = KernelQ4<false>;
using KernelQ4_1 = KernelQ4<true>;

// Q5_0 (levels q + 16) and Q5_1 (levels q, plus mins): as Q4 plus a fifth
// bit per value: bit j of the row's 32-bit qh word is bit 4 of value j
// (j < 16: low nibbles, else high). vpshufbitqmb gathers, for each byte of a
// step, its value's bit out of the lane's qh word.
template <bool kMin>
struct KernelQ5 : Int8Activations<32, kMin ? 1 : -16> {
  static constexpr size_t kGroupBlockBytes = kMin ? 384 : 352;
  static constexpr int kBlockElems = 32;
  static constexpr int kTileTokens = 8;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, const int8_t* const* xq, const float* const* dx,
                             const int32_t* const* sx, __m512* acc) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i bit4 = _mm512_set1_epi8(0x10);
    // Byte j of a step belongs to lane j / 4 (row), value 4s + j % 4; its
    // row's qh sits at bit 32 * (row % 2) of the byte's 64-bit lane.
    const __m512i base =
        _mm512_set_epi8(35, 34, 33, 32, 3, 2, 1, 0, 35, 34, 33, 32, 3, 2, 1, 0, 35, 34, 33, 32, 3,
                        2, 1, 0, 35, 34, 33, 32, 3, 2, 1, 0, 35, 34, 33, 32, 3, 2, 1, 0, 35, 34, 33,
                        32, 3, 2, 1, 0, 35, 34, 33, 32, 3, 2, 1, 0, 35, 34, 33, 32, 3, 2, 1, 0);
    const uint8_t* qh_words = p + (kMin ? 64 : 32);
    const __m512i qh = Load(qh_words);
    __m512i lo[4], hi[4];
    for (int s = 0; s < 4; ++s) {
      const __m512i l = Load(qh_words + 64 + 64 * s);
      const __m512i idx = _mm512_add_epi8(base, _mm512_set1_epi8(static_cast<char>(4 * s)));
      const __mmask64 k_lo = _mm512_bitshuffle_epi64_mask(qh, idx);
      const __mmask64 k_hi =
          _mm512_bitshuffle_epi64_mask(qh, _mm512_add_epi8(idx, _mm512_set1_epi8(16)));
      lo[s] = _mm512_mask_add_epi8(_mm512_and_si512(l, m4), k_lo, _mm512_and_si512(l, m4), bit4);
      const __m512i h = _mm512_and_si512(_mm512_srli_epi16(l, 4), m4);
      hi[s] = _mm512_mask_add_epi8(h, k_hi, h, bit4);
    }
    const __m512 mw = kMin ? LoadHalves(p + 32) : _mm512_setzero_ps();
    NibbleBlockDots<NT, kMin>(lo, hi, LoadHalves(p), mw, xq, dx, sx, acc);
  }
};
using KernelQ5_0 = KernelQ5<false>;
using KernelQ5_1 = KernelQ5<true>;

struct KernelQ8_0 : Int8Activations<32, -128> {
  static constexpr size_t kGroupBlockBytes = 544;
  static constexpr int kBlockElems = 32;
  static constexpr int kTileTokens = 8;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, const int8_t* const* xq, const float* const* dx,
                             const int32_t* const* sx, __m512* acc) {
    const __m512 dw = LoadHalves(p);
    // Levels are stored as q + 128: start from -128 * sum(x). Steps outside,
    // tokens inside: NT independent chains side by side in program order.
    __m512i a[NT];
    for (int t = 0; t < NT; ++t) a[t] = _mm512_set1_epi32(sx[t][0]);
    for (int s = 0; s < 8; ++s) {
      const __m512i w = Load(p + 32 + 64 * s);
      for (int t = 0; t < NT; ++t) a[t] = _mm512_dpbusd_epi32(a[t], w, Broadcast4(xq[t] + 4 * s));
    }
    for (int t = 0; t < NT; ++t) {
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[t]),
                               _mm512_mul_ps(dw, _mm512_set1_ps(dx[t][0])), acc[t]);
    }
  }
};

// Q4_K: w = d * sc_j * q - dmin * m_j per 32-value sub-block j; levels
// 0..15. x has a scale per 32 values too, so each sub-block ends in f32.
struct KernelQ4_K : Int8Activations<16, 1> {
  static constexpr size_t kGroupBlockBytes = 2368;
  static constexpr int kBlockElems = 256;
  static constexpr int kTileTokens = 4;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, const int8_t* const* xq, const float* const* dx,
                             const int32_t* const* sx, __m512* acc) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const uint8_t* qs = p + 320;
    const __m512 d = LoadHalves(p), dmin = LoadHalves(p + 32);
    for (int c = 0; c < 4; ++c) {
      __m512i a[NT], b[NT];
      for (int t = 0; t < NT; ++t) a[t] = b[t] = _mm512_setzero_si512();
      // One step: 16 rows x 4 values of the low nibbles (sub-block 2c) and
      // of the high ones (2c + 1).
      for (int s = 0; s < 8; ++s) {
        const __m512i l = Load(qs + 64 * (8 * c + s));
        const __m512i lo = _mm512_and_si512(l, m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(l, 4), m4);
        for (int t = 0; t < NT; ++t) {
          a[t] = _mm512_dpbusd_epi32(a[t], lo, Broadcast4(xq[t] + 64 * c + 4 * s));
          b[t] = _mm512_dpbusd_epi32(b[t], hi, Broadcast4(xq[t] + 64 * c + 32 + 4 * s));
        }
      }
      const int j = 2 * c;  // sub-blocks j (low nibbles) and j + 1 (high)
      const __m512 sc_lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(WidenU8(p + 64 + 16 * j)));
      const __m512 sc_hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(WidenU8(p + 64 + 16 * (j + 1))));
      const __m512 m_lo = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(WidenU8(p + 192 + 16 * j)));
      const __m512 m_hi = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(WidenU8(p + 192 + 16 * (j + 1))));
      for (int t = 0; t < NT; ++t) {
        const float dx_lo = dx[t][j], dx_hi = dx[t][j + 1];
        // Sums of x per 16 values: sub-block j is sums 2j, 2j + 1.
        const int32_t* s16 = sx[t] + 2 * j;
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a[t]), _mm512_set1_ps(dx_lo)),
                                 sc_lo, acc[t]);
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(b[t]), _mm512_set1_ps(dx_hi)),
                                 sc_hi, acc[t]);
        acc[t] = _mm512_fnmadd_ps(m_lo, _mm512_set1_ps(dx_lo * static_cast<float>(s16[0] + s16[1])),
                                  acc[t]);
        acc[t] = _mm512_fnmadd_ps(m_hi, _mm512_set1_ps(dx_hi * static_cast<float>(s16[2] + s16[3])),
                                  acc[t]);
      }
    }
  }
};

// One step's 16 rows x 4 levels of kBits (3: Q3_K, 5: Q5_K, 6: Q6_K) from its
// 8 * kBits bytes (pack.cc): row r's levels are the (4 * kBits)-bit number
// at bit 4 * kBits * (r % 2) of the kBits bytes at kBits * (r / 2), level i
// in bits kBits * i... vpermb gives each 64-bit lane the kBits bytes of its
// two rows; vpmultishiftqb cuts 8 bits at bit kBits * i of the lane into
// byte i, and the AND drops the neighbour's bits.
template <int kBits>
HWY_INLINE __m512i LoadLevels(const uint8_t* p) {
  struct Spread {
    alignas(64) uint8_t index[64];
  };
  static constexpr Spread kSpread = [] {
    Spread s{};
    for (int i = 0; i < 8; ++i) {
      for (int k = 0; k < 8; ++k)
        s.index[8 * i + k] = static_cast<uint8_t>(kBits * i + std::min(k, kBits - 1));
    }
    return s;
  }();
  constexpr uint64_t kCuts = [] {
    uint64_t c = 0;
    for (int m = 0; m < 8; ++m) c |= static_cast<uint64_t>(kBits * m) << (8 * m);
    return c;
  }();
  const __m512i spread = _mm512_load_si512(kSpread.index);
  const __m512i raw = _mm512_maskz_loadu_epi8((uint64_t{1} << (8 * kBits)) - 1, p);
  return _mm512_and_si512(
      _mm512_multishift_epi64_epi8(_mm512_set1_epi64(static_cast<int64_t>(kCuts)),
                                   _mm512_permutexvar_epi8(spread, raw)),
      _mm512_set1_epi8(static_cast<char>((1 << kBits) - 1)));
}

// Q5_K: as Q4_K with levels 0..31, kept at 5 bits: step 8j + s holds values
// 32j + 4s.. of sub-block j. Three operations unpack a step; the layout it
// replaced (Q4_K's nibbles plus a fifth-bit vector per 4 steps) needed six
// more to merge the bits and decoded at 11 GB/s from DRAM against 25 for
// Q4_K. 8-token tiles spread the unpacking in prompts.
struct KernelQ5_K : Int8Activations<16, 1> {
  static constexpr size_t kGroupBlockBytes = 320 + 64 * 40;
  static constexpr int kBlockElems = 256;
  static constexpr int kTileTokens = 8;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, const int8_t* const* xq, const float* const* dx,
                             const int32_t* const* sx, __m512* acc) {
    const uint8_t* levels = p + 320;
    const __m512 d = LoadHalves(p), dmin = LoadHalves(p + 32);
    for (int j = 0; j < 8; ++j) {
      __m512i a[NT];
      for (int t = 0; t < NT; ++t) a[t] = _mm512_setzero_si512();
      for (int s = 0; s < 8; ++s) {
        const __m512i w = LoadLevels<5>(levels + 40 * (8 * j + s));
        for (int t = 0; t < NT; ++t) {
          a[t] = _mm512_dpbusd_epi32(a[t], w, Broadcast4(xq[t] + 32 * j + 4 * s));
        }
      }
      const __m512 sc = _mm512_mul_ps(d, _mm512_cvtepi32_ps(WidenU8(p + 64 + 16 * j)));
      const __m512 m = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(WidenU8(p + 192 + 16 * j)));
      for (int t = 0; t < NT; ++t) {
        const float dxj = dx[t][j];
        const int32_t* s16 = sx[t] + 2 * j;
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a[t]), _mm512_set1_ps(dxj)), sc,
                                 acc[t]);
        acc[t] =
            _mm512_fnmadd_ps(m, _mm512_set1_ps(dxj * static_cast<float>(s16[0] + s16[1])), acc[t]);
      }
    }
  }
};

// Q3_K and Q6_K: w = d * sc_j * (q - kOffset) per 16-value sub-block j, 4
// steps of 8 * kBits bytes per sub-block, int8 scales. Levels kept at kBits
// cost three operations per step (LoadLevels) against bytes, and save a
// quarter (Q6_K) of the bytes decode streams; 8-token tiles spread that
// unpacking in prompts (docs/kernels.md).
template <int kBits, int kOffset>
struct KernelSub16 : Int8Activations<16, -kOffset> {
  static constexpr size_t kStepBytes = 8 * kBits;
  static constexpr size_t kGroupBlockBytes = 288 + 64 * kStepBytes;
  static constexpr int kBlockElems = 256;
  static constexpr int kTileTokens = 8;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, const int8_t* const* xq, const float* const* dx,
                             const int32_t* const* sx, __m512* acc) {
    const uint8_t* levels = p + 288;
    const __m512 d = LoadHalves(p);
    for (int i = 0; i < 8; ++i) {  // 32-value pieces: one activation scale each
      __m512i dot[NT];
      for (int jj = 0; jj < 2; ++jj) {
        const int j = 2 * i + jj;  // sub-block
        __m512i a[NT];             // started at -kOffset * sum(x): levels are q + kOffset
        for (int t = 0; t < NT; ++t) a[t] = _mm512_set1_epi32(sx[t][j]);
        for (int s = 4 * j; s < 4 * j + 4; ++s) {
          const __m512i w = LoadLevels<kBits>(levels + kStepBytes * s);
          for (int t = 0; t < NT; ++t) {
            a[t] = _mm512_dpbusd_epi32(a[t], w, Broadcast4(xq[t] + 4 * s));
          }
        }
        const __m512i sc = WidenS8(p + 32 + 16 * j);
        for (int t = 0; t < NT; ++t) {
          const __m512i scaled = _mm512_mullo_epi32(a[t], sc);
          dot[t] = jj == 0 ? scaled : _mm512_add_epi32(dot[t], scaled);
        }
      }
      for (int t = 0; t < NT; ++t) {
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[t]),
                                 _mm512_mul_ps(d, _mm512_set1_ps(dx[t][i])), acc[t]);
      }
    }
  }
};
using KernelQ3_K = KernelSub16<3, 4>;
using KernelQ6_K = KernelSub16<6, 32>;

// BF16 weights, lane = row holding values 2s, 2s + 1 at step s; x in bf16.
// No scales: vdpbf16ps accumulates straight into f32. More tokens per tile
// than the int8 kernels: the 16-deep FMA chain per block needs them to hide
// its latency, and only one weight register is live.
struct KernelBF16 {
  static constexpr size_t kGroupBlockBytes = 1024;
  static constexpr int kBlockElems = 32;
  static constexpr int kTileTokens = 8;
  static constexpr int kValueBytes = 2;
  static Activations Prepare(const float* x, int64_t num_tokens, int64_t cols) {
    return ConvertActivationsBf16(x, num_tokens, cols);
  }
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, const int8_t* const* xq, const float* const*,
                             const int32_t* const*, __m512* acc) {
    for (int s = 0; s < 16; ++s) {
      const __m512i w = Load(p + 64 * s);
      for (int t = 0; t < NT; ++t) {
        const __m512i x = Broadcast4(xq[t] + 4 * s);
        acc[t] = _mm512_dpbf16_ps(acc[t], reinterpret_cast<const __m512bh&>(w),
                                  reinterpret_cast<const __m512bh&>(x));
      }
    }
  }
  static constexpr bool kPairGroups = true;
  template <int NT>
  static HWY_INLINE void RunPair(const uint8_t* p0, const uint8_t* p1, const int8_t* const* xq,
                                 __m512* acc0, __m512* acc1) {
    for (int s = 0; s < 16; ++s) {
      const __m512i w0 = Load(p0 + 64 * s), w1 = Load(p1 + 64 * s);
      for (int t = 0; t < NT; ++t) {
        const __m512i x = Broadcast4(xq[t] + 4 * s);
        acc0[t] = _mm512_dpbf16_ps(acc0[t], reinterpret_cast<const __m512bh&>(w0),
                                   reinterpret_cast<const __m512bh&>(x));
        acc1[t] = _mm512_dpbf16_ps(acc1[t], reinterpret_cast<const __m512bh&>(w1),
                                   reinterpret_cast<const __m512bh&>(x));
      }
    }
  }
};

// Rows of group g times tokens [t0, t0 + NT) over blocks [b0, b1):
// y[t, 16g + r] = (accumulate ? y[t, 16g + r] : 0) + the blocks' dot products.
template <class K, int NT>
HWY_INLINE void GroupTokens(const uint8_t* group, int64_t b0, int64_t b1, const Activations& a,
                            int64_t t0, float* y, int64_t y_stride, __mmask16 row_mask,
                            bool accumulate) {
  __m512 acc[NT];
  const int8_t* xq[NT];
  const float* dx[NT];
  const int32_t* sx[NT];
  const int64_t sums_per_block = K::kBlockElems * a.sums_per_row / a.cols;
  const int64_t scales_per_block = K::kBlockElems * a.scales_per_row / a.cols;
  for (int t = 0; t < NT; ++t) {
    float* yt = y + (t0 + t) * y_stride;
    acc[t] = accumulate ? _mm512_maskz_loadu_ps(row_mask, yt) : _mm512_setzero_ps();
    xq[t] = a.q + ((t0 + t) * a.cols + b0 * K::kBlockElems) * a.value_bytes;
    dx[t] = a.d + (t0 + t) * a.scales_per_row + b0 * scales_per_block;
    sx[t] = a.sum + (t0 + t) * a.sums_per_row + b0 * sums_per_block;
  }
  // No software prefetch: asking for the block after next cost the head
  // decode 25% (Q8_0) to 45% (Q4_K) against the hardware prefetcher alone.
  for (int64_t b = b0; b < b1; ++b) {
    const uint8_t* block = group + static_cast<size_t>(b) * K::kGroupBlockBytes;
    K::template Run<NT>(block, xq, dx, sx, acc);
    for (int t = 0; t < NT; ++t) {
      xq[t] += K::kBlockElems * K::kValueBytes;
      dx[t] += scales_per_block;
      sx[t] += sums_per_block;
    }
  }
  for (int t = 0; t < NT; ++t) {
    _mm512_mask_storeu_ps(y + (t0 + t) * y_stride, row_mask, acc[t]);
  }
}

// The last n < K::kTileTokens tokens of a chunk, one tile of n.
template <class K, int N = K::kTileTokens - 1>
HWY_INLINE void TailTokens(int64_t n, const uint8_t* group, int64_t b0, int64_t b1,
                           const Activations& a, int64_t t0, float* y, int64_t y_stride,
                           __mmask16 row_mask, bool accumulate) {
  if constexpr (N > 0) {
    if (n == N) {
      return GroupTokens<K, N>(group, b0, b1, a, t0, y, y_stride, row_mask, accumulate);
    }
    TailTokens<K, N - 1>(n, group, b0, b1, a, t0, y, y_stride, row_mask, accumulate);
  }
}

// Whether K runs two row groups per token tile (PairTokens).
template <class K>
concept PairsGroups = requires {
  K::kPairGroups;
};

// Rows of groups g and g + 1 (group0, group1) times tokens [t0, t0 + NT),
// for kernels whose step is one multiply per token (BF16): each broadcast
// activation pair feeds two weight vectors, and 2 x NT independent chains
// keep vdpbf16ps busy with fewer loads per multiply (Gemma 2 2B BF16 pp512:
// 1.08x on 1 thread, 1.05x on 2). Same additions, in the same order, as
// GroupTokens on each group.
template <class K, int NT>
HWY_INLINE void PairTokens(const uint8_t* group0, const uint8_t* group1, int64_t b0, int64_t b1,
                           const Activations& a, int64_t t0, float* y, int64_t y_stride,
                           __mmask16 mask1, bool accumulate) {
  __m512 acc0[NT], acc1[NT];
  const int8_t* xq[NT];
  for (int t = 0; t < NT; ++t) {
    float* yt = y + (t0 + t) * y_stride;
    acc0[t] = accumulate ? _mm512_loadu_ps(yt) : _mm512_setzero_ps();
    acc1[t] = accumulate ? _mm512_maskz_loadu_ps(mask1, yt + kPackRows) : _mm512_setzero_ps();
    xq[t] = a.q + ((t0 + t) * a.cols + b0 * K::kBlockElems) * a.value_bytes;
  }
  for (int64_t b = b0; b < b1; ++b) {
    const size_t off = static_cast<size_t>(b) * K::kGroupBlockBytes;
    K::template RunPair<NT>(group0 + off, group1 + off, xq, acc0, acc1);
    for (int t = 0; t < NT; ++t) xq[t] += K::kBlockElems * K::kValueBytes;
  }
  for (int t = 0; t < NT; ++t) {
    float* yt = y + (t0 + t) * y_stride;
    _mm512_storeu_ps(yt, acc0[t]);
    _mm512_mask_storeu_ps(yt + kPackRows, mask1, acc1[t]);
  }
}

template <class K>
void GroupRange(const WeightMatrix& w, const Activations& a, int64_t num_tokens, float* y,
                int64_t y_stride, int64_t g0, int64_t g1) {
  const int64_t blocks = w.cols / K::kBlockElems;
  const auto group_at = [packed = w.packed, blocks](int64_t g) {
    return packed + static_cast<size_t>(g * blocks) * K::kGroupBlockBytes;
  };
  // The rows of group g that exist (the last group may be partial).
  const auto row_mask = [rows = w.rows](int64_t g) {
    const int64_t valid = std::min<int64_t>(kPackRows, rows - g * kPackRows);
    return static_cast<__mmask16>((1u << valid) - 1);
  };
  // Wide rows (the down projection's 6912-9216 columns) run in k-chunks of
  // at most kChunkBytes per group: the chunk's weights stay in L1 while the
  // token tiles pass over them, and the token chunk below (activations in L2)
  // is sized by the k-chunk instead of the whole row, so it holds whole tiles
  // (a 9216-column BF16 row left room for 13 tokens: one tile and a tail of
  // 5). Partial sums wait in y; the order of additions does not change.
  // Measured on Gemma 2 2B pp512, one thread: BF16 +12%, Q8_0 +3%; rows up to
  // 2.5 chunks stay whole (splitting 2304-column BF16 rows cost 5-10%).
  constexpr int64_t kChunkBytes = 32 * 1024;
  int64_t kc = blocks;
  const int64_t row_bytes = blocks * static_cast<int64_t>(K::kGroupBlockBytes);
  if (num_tokens >= K::kTileTokens && 2 * row_bytes > 5 * kChunkBytes) {
    const int64_t pieces = (row_bytes + kChunkBytes - 1) / kChunkBytes;
    kc = (blocks + pieces - 1) / pieces;
  }
  // Token chunks whose activations stay in L2 while the chunk walks the
  // thread's row groups (each group's weights are then reused from L1/L2).
  const int64_t chunk = std::max<int64_t>(
      K::kTileTokens, (256 * 1024) / std::max<int64_t>(1, kc * K::kBlockElems * K::kValueBytes));
  for (int64_t c0 = 0; c0 < num_tokens; c0 += chunk) {
    const int64_t c1 = std::min(num_tokens, c0 + chunk);
    for (int64_t b0 = 0; b0 < blocks; b0 += kc) {
      const int64_t b1 = std::min(blocks, b0 + kc);
      const bool accumulate = b0 > 0;
      int64_t g = g0;
      if constexpr (PairsGroups<K>) {
        for (; g + 2 <= g1; g += 2) {
          const uint8_t *group = group_at(g), *next = group_at(g + 1);
          const __mmask16 mask1 = row_mask(g + 1);
          float* yg = y + g * kPackRows;
          int64_t t = c0;
          for (; t + K::kTileTokens <= c1; t += K::kTileTokens) {
            PairTokens<K, K::kTileTokens>(group, next, b0, b1, a, t, yg, y_stride, mask1,
                                          accumulate);
          }
          TailTokens<K>(c1 - t, group, b0, b1, a, t, yg, y_stride, row_mask(g), accumulate);
          TailTokens<K>(c1 - t, next, b0, b1, a, t, yg + kPackRows, y_stride, mask1, accumulate);
        }
      }
      for (; g < g1; ++g) {
        const uint8_t* group = group_at(g);
        const __mmask16 mask = row_mask(g);
        float* yg = y + g * kPackRows;
        int64_t t = c0;
        for (; t + K::kTileTokens <= c1; t += K::kTileTokens) {
          GroupTokens<K, K::kTileTokens>(group, b0, b1, a, t, yg, y_stride, mask, accumulate);
        }
        TailTokens<K>(c1 - t, group, b0, b1, a, t, yg, y_stride, mask, accumulate);
      }
    }
  }
}

template <class K>
void RunGroups(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
               int64_t y_stride, ThreadPool& pool) {
  const Activations a = K::Prepare(x, num_tokens, w.cols);
  const int64_t groups = (w.rows + kPackRows - 1) / kPackRows;
  const size_t bytes = PackedBytes(w) * static_cast<size_t>(num_tokens);
  if (pool.num_threads() == 1 || bytes < 64 * 1024) {
    return GroupRange<K>(w, a, num_tokens, y, y_stride, 0, groups);
  }
  pool.ParallelFor(static_cast<size_t>(groups), 1, [&](size_t g0, size_t g1, int) {
    GroupRange<K>(w, a, num_tokens, y, y_stride, static_cast<int64_t>(g0),
                  static_cast<int64_t>(g1));
  });
}

bool PackedAvailableT() { return true; }

// x minus what its 8-bit blocks represent (same arithmetic as
// QuantizeActivations), for the second pass of a precise MatMul.
void ActivationResidual(const float* x, int64_t cols, float* out) {
  for (int64_t k0 = 0; k0 < cols; k0 += 32) {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[k0 + i]));
    const float scale = amax / 127.0f;
    const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
    for (int i = 0; i < 32; ++i) {
      out[k0 + i] = x[k0 + i] - std::nearbyint(x[k0 + i] * inv) * scale;
    }
  }
}

template <class K>
void MatMulPacked(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                  int64_t y_stride, ThreadPool& pool, bool precise) {
  if (!precise || K::kValueBytes != 1) return RunGroups<K>(w, x, num_tokens, y, y_stride, pool);
  // Each token runs as two: x, and its 8-bit rounding error quantized again
  // (about 15 bits in all). Adjacent in one token tile, the pair shares every
  // unpacked weight block, so the weights are read once.
  constexpr int64_t kTokensPerPass = 8;
  const int64_t n = std::min(num_tokens, kTokensPerPass);
  float* xr = ThreadScratch<struct PreciseInputs, float>(static_cast<size_t>(2 * n * w.cols));
  float* yr = ThreadScratch<struct PreciseOutputs, float>(static_cast<size_t>(2 * n * w.rows));
  for (int64_t t0 = 0; t0 < num_tokens; t0 += kTokensPerPass) {
    const int64_t count = std::min(kTokensPerPass, num_tokens - t0);
    for (int64_t t = 0; t < count; ++t) {
      const float* src = x + (t0 + t) * w.cols;
      std::copy(src, src + w.cols, xr + 2 * t * w.cols);
      ActivationResidual(src, w.cols, xr + (2 * t + 1) * w.cols);
    }
    RunGroups<K>(w, xr, 2 * count, yr, w.rows, pool);
    for (int64_t t = 0; t < count; ++t) {
      float* dst = y + (t0 + t) * y_stride;
      const float* hi = yr + 2 * t * w.rows;
      const float* lo = hi + w.rows;
      for (int64_t r = 0; r < w.rows; ++r) dst[r] = hi[r] + lo[r];
    }
  }
}

void MatMulPackedT(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                   int64_t y_stride, ThreadPool& pool, bool precise) {
  if (w.rows <= 0 || num_tokens <= 0) return;
  switch (w.type) {
    case DType::kQ4_0:
      return MatMulPacked<KernelQ4_0>(w, x, num_tokens, y, y_stride, pool, precise);
    case DType::kQ4_1:
      return MatMulPacked<KernelQ4_1>(w, x, num_tokens, y, y_stride, pool, precise);
    case DType::kQ5_0:
      return MatMulPacked<KernelQ5_0>(w, x, num_tokens, y, y_stride, pool, precise);
    case DType::kQ5_1:
      return MatMulPacked<KernelQ5_1>(w, x, num_tokens, y, y_stride, pool, precise);
    case DType::kQ8_0:
      return MatMulPacked<KernelQ8_0>(w, x, num_tokens, y, y_stride, pool, precise);
    case DType::kQ3_K:
      return MatMulPacked<KernelQ3_K>(w, x, num_tokens, y, y_stride, pool, precise);
    case DType::kQ4_K:
      return MatMulPacked<KernelQ4_K>(w, x, num_tokens, y, y_stride, pool, precise);
    case DType::kQ5_K:
      return MatMulPacked<KernelQ5_K>(w, x, num_tokens, y, y_stride, pool, precise);
    case DType::kQ6_K:
      return MatMulPacked<KernelQ6_K>(w, x, num_tokens, y, y_stride, pool, precise);
    case DType::kBF16:
      return MatMulPacked<KernelBF16>(w, x, num_tokens, y, y_stride, pool, precise);
    default:
      Fail("packed MatMul: no kernel for ", Name(w.type));
  }
}

#pragma GCC pop_options

#else  // no VNNI on this target

bool PackedAvailableT() { return false; }

void MatMulPackedT(const WeightMatrix&, const float*, int64_t, float*, int64_t, ThreadPool&, bool) {
  Fail("packed MatMul: this CPU has no AVX-512 VNNI");
}

#endif

}  // namespace HWY_NAMESPACE
}  // namespace gemma
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace gemma {

HWY_EXPORT(PackedAvailableT);
HWY_EXPORT(MatMulPackedT);

bool PackedMatMulAvailable() { return HWY_DYNAMIC_DISPATCH(PackedAvailableT)(); }

namespace kernels {
bool CpuHasBf16Dot() {
#if HWY_ARCH_X86
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

void MatMulPackedWeights(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                         int64_t y_stride, ThreadPool& pool, bool precise) {
  HWY_DYNAMIC_DISPATCH(MatMulPackedT)(w, x, num_tokens, y, y_stride, pool, precise);
}
}  // namespace kernels

}  // namespace gemma
#endif  // HWY_ONCE
