// Dynamic-dispatch TU for the packed MatMul (kernels/packed_matmul.h): the
// activation rounding and the driver that walks row groups, k-chunks and
// token tiles, shared by the targets that have packed kernels:
//   AVX3_DL (AVX-512 VNNI, and AVX512_BF16 for BF16): packed_avx512-inl.h;
//   AVX2 (also what AVX-512 CPUs without VNNI run here): packed_avx2-inl.h.
// Every other target reports the path unavailable; the float kernels run.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/error.h"
#include "kernels/packed_matmul.h"
#include "kernels/scratch.h"
#include "kernels/target_extensions.h"
#include "threading/thread_pool.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_packed.cc"
#include "hwy/aligned_allocator.h"
#include "hwy/cache_control.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace gemma {
namespace HWY_NAMESPACE {

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2
#if HWY_TARGET == HWY_AVX3_DL
// Highway 1.0's AVX3_DL target string names "avxvnni" (the VEX form) but not
// avx512vnni, which the 512-bit dpbusd needs; every CPU the target accepts has
// it. AVX512_BF16 is not part of the target: the BF16 kernel only runs where
// the CPU has it (PackedBf16T).
GEMMA_PUSH_AVX512_VNNI_BF16
#endif

namespace hn = hwy::HWY_NAMESPACE;

// Rounded activations of num_tokens rows: values q (value_bytes each: int8
// levels, or bf16) at q[(t * cols + k) * value_bytes]; for int8, one f32
// scale per scale_block values (d[t * cols / scale_block + b]) and the sum of
// the levels per sum_block values (sum[t * cols / sum_block + j]), or that
// sum times its block's scale (scaled_sum, where sum_block is scale_block).
struct Activations {
  const int8_t* q;
  const float* d;
  const int32_t* sum;
  const float* scaled_sum;
  int64_t cols;
  int64_t scales_per_row;
  int64_t sums_per_row;
  int64_t value_bytes;
};

// How a kernel takes the activation sums: as integers; as f32 products with
// the block's scale (what a min term needs: the product is then made once per
// token instead of once per row group and token); or as the int16 pair of the
// two 16-value sums of each scale block, one 32-bit word (vpdpwssd's operand).
enum class SumForm { kInt, kScaled, kInt16Pairs };

// 1 / d for the activation scale d, or 0 where d is 0 or so small (below
// about 3e-39) that 1 / d overflows: such a block rounds to levels 0.
inline float ActivationInverseScale(float d) {
  const float inv = d != 0.0f ? 1.0f / d : 0.0f;
  return std::isinf(inv) ? 0.0f : inv;
}

// q = round-to-nearest-even(x / d), d = max|x| / 127 per scale block; the sum
// of q per sum block times sum_multiplier (none where that is 0), in `form`.
// Same arithmetic as ref::QuantizeActivationsRef.
Activations QuantizeActivations(const float* x, int64_t num_tokens, int64_t cols,
                                ActivationBlocks blocks, int32_t sum_multiplier, SumForm form) {
  if (form == SumForm::kScaled && blocks.sum_block != blocks.scale_block) {
    Fail("packed MatMul: scaled activation sums need one sum per scale block");
  }
  if (form == SumForm::kInt16Pairs && 2 * blocks.sum_block != blocks.scale_block) {
    Fail("packed MatMul: int16 sum pairs need two sums per scale block");
  }
  const hn::CappedTag<float, 16> df;  // 16 divides both block sizes
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<int8_t, decltype(df)> d8;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t per_scale = cols / blocks.scale_block;
  const int64_t per_sum = cols / blocks.sum_block;
  const size_t n = static_cast<size_t>(num_tokens);
  int8_t* q = ThreadScratch<struct ActivationLevels, int8_t>(n * static_cast<size_t>(cols));
  float* d = ThreadScratch<struct ActivationScales, float>(n * static_cast<size_t>(per_scale));
  int32_t* sum = nullptr;
  float* scaled_sum = nullptr;
  if (form != SumForm::kScaled) {
    sum = ThreadScratch<struct ActivationSums, int32_t>(n * static_cast<size_t>(per_sum));
  } else {
    scaled_sum =
        ThreadScratch<struct ActivationScaledSums, float>(n * static_cast<size_t>(per_sum));
  }
  const int64_t vecs_per_scale = blocks.scale_block / lanes;
  const int64_t vecs_per_sum = blocks.sum_block / lanes;
  for (size_t t = 0; t < n; ++t) {
    for (int64_t b = 0; b < per_scale; ++b) {
      const int64_t k0 = b * blocks.scale_block;
      const float* xb = x + t * static_cast<size_t>(cols) + k0;
      auto amax = hn::Zero(df);
      bool finite = true;
      for (int64_t v = 0; v < vecs_per_scale; ++v) {
        const auto xv = hn::LoadU(df, xb + lanes * v);
        amax = hn::Max(amax, hn::Abs(xv));
        finite = finite && hn::AllTrue(df, hn::IsFinite(xv));
      }
      // A block holding Inf or NaN gets levels 0 and a NaN scale, so its
      // token's outputs are NaN, as on the f32 path. Rounding x / d would
      // give NaN, whose conversion yields INT_MIN levels and overflowing sums.
      const float scale = finite ? hn::GetLane(hn::MaxOfLanes(df, amax)) / 127.0f
                                 : std::numeric_limits<float>::quiet_NaN();
      const float inv = ActivationInverseScale(finite ? scale : 0.0f);
      d[t * static_cast<size_t>(per_scale) + static_cast<size_t>(b)] = scale;
      const auto vinv = hn::Set(df, inv);
      int8_t* qb = q + t * static_cast<size_t>(cols) + k0;
      const size_t sum_index =
          t * static_cast<size_t>(per_sum) + static_cast<size_t>(k0 / blocks.sum_block);
      auto acc = hn::Zero(di);
      for (int64_t v = 0; v < vecs_per_scale; ++v) {
        const auto xv = finite ? hn::LoadU(df, xb + lanes * v) : hn::Zero(df);
        const auto qi = hn::NearestInt(hn::Mul(xv, vinv));
        hn::StoreU(hn::DemoteTo(d8, qi), d8, qb + lanes * v);
        if (sum_multiplier == 0) continue;  // a kernel that needs no sums
        acc = hn::Add(acc, qi);
        if ((v + 1) % vecs_per_sum == 0) {
          const int32_t block_sum = sum_multiplier * hn::GetLane(hn::SumOfLanes(di, acc));
          const size_t i = sum_index + static_cast<size_t>(v / vecs_per_sum);
          if (form == SumForm::kInt) {
            sum[i] = block_sum;
          } else if (form == SumForm::kScaled) {
            scaled_sum[i] = scale * static_cast<float>(block_sum);
          } else {  // |sum| <= 16 * 127: an int16 each
            int32_t& word = sum[t * static_cast<size_t>(per_scale) + static_cast<size_t>(b)];
            const uint32_t half = static_cast<uint16_t>(block_sum);
            word = static_cast<int32_t>(
                v < vecs_per_sum ? half : static_cast<uint32_t>(word) | half << 16);
          }
          acc = hn::Zero(di);
        }
      }
    }
  }
  const int64_t sums_per_row = form == SumForm::kInt16Pairs ? per_scale : per_sum;
  return {q, d, sum, scaled_sum, cols, per_scale, sums_per_row, 1};
}

// Per weight type, the kernel headers define a struct with the bytes of one
// group-block and a Run<NT> that adds NT tokens' dot products with one
// group-block into acc[t] (one slice of Rows::kRows rows of the group each).
// xq[t] points at the block's first quantized activation of token t; dx[t]
// at its scale(s), sx[t] at its sum(s).
// The activation preparation of the int8 kernels: scale per 32, sums per
// kSumBlock values, stored times kSumMultiplier (-offset for the kernels that
// start each block's integer sum at -offset * sum(x), saving an operation per
// token and block), in kForm. Sum is what the kernel's sx points at.
template <int kSumBlock, int kSumMultiplier, SumForm kForm = SumForm::kInt>
struct Int8Activations {
  static constexpr int kValueBytes = 1;
  using Sum = std::conditional_t<kForm == SumForm::kScaled, float, int32_t>;
  static Activations Prepare(const float* x, int64_t num_tokens, int64_t cols) {
    return QuantizeActivations(x, num_tokens, cols, {32, kSumBlock}, kSumMultiplier, kForm);
  }
  static const Sum* Sums(const Activations& a) {
    if constexpr (kForm == SumForm::kScaled) {
      return a.scaled_sum;
    } else {
      return a.sum;
    }
  }
};

#if HWY_TARGET == HWY_AVX3_DL
#include "kernels/packed_avx512-inl.h"
#else
#include "kernels/packed_avx2-inl.h"
#endif

// Rows of S slices of a group from slice h0 on (Rows::kRows rows each,
// starting at y; masks[s] for slice h0 + s) times tokens [t0, t0 + NT) over
// blocks [b0, b1): y[t, r] = (accumulate ? y[t, r] : 0) + the blocks' dot
// products. More than one slice per pass: each block's slices one after the
// other while its cache lines are in L1.
// prefetch: the next group (or null): its blocks [b0, b1) are asked for
// block by block, alongside this group's.
template <class K, int NT, int S>
HWY_INLINE void GroupTokens(const uint8_t* group, int h0, int64_t b0, int64_t b1,
                            const Activations& a, int64_t t0, float* y, int64_t y_stride,
                            std::array<Rows::Mask, S> masks, bool accumulate,
                            const uint8_t* prefetch = nullptr) {
  Rows::Acc acc[S][NT];
  const int8_t* xq[NT];
  const float* dx[NT];
  const typename K::Sum* sx[NT];
  const int64_t sums_per_block = K::kBlockElems * a.sums_per_row / a.cols;
  const int64_t scales_per_block = K::kBlockElems * a.scales_per_row / a.cols;
  for (int t = 0; t < NT; ++t) {
    float* yt = y + (t0 + t) * y_stride;
    for (int h = 0; h < S; ++h) {
      acc[h][t] = accumulate ? Rows::Load(yt + h * Rows::kRows, masks[h]) : Rows::Zero();
    }
    xq[t] = a.q + ((t0 + t) * a.cols + b0 * K::kBlockElems) * a.value_bytes;
    dx[t] = a.d + (t0 + t) * a.scales_per_row + b0 * scales_per_block;
    sx[t] = K::Sums(a) + (t0 + t) * a.sums_per_row + b0 * sums_per_block;
  }
  // Decode asks for nothing: the block after next cost the head decode 25%
  // (Q8_0) to 45% (Q4_K) against the hardware prefetcher alone.
  for (int64_t b = b0; b < b1; ++b) {
    const uint8_t* block = group + static_cast<size_t>(b) * K::kGroupBlockBytes;
    if (prefetch != nullptr) {
      const uint8_t* next = prefetch + static_cast<size_t>(b) * K::kGroupBlockBytes;
      for (size_t off = 0; off < K::kGroupBlockBytes; off += 64) hwy::Prefetch(next + off);
    }
    for (int h = 0; h < S; ++h) K::template Run<NT>(block, h0 + h, xq, dx, sx, acc[h]);
    for (int t = 0; t < NT; ++t) {
      xq[t] += K::kBlockElems * K::kValueBytes;
      dx[t] += scales_per_block;
      sx[t] += sums_per_block;
    }
  }
  for (int t = 0; t < NT; ++t) {
    for (int h = 0; h < S; ++h) {
      Rows::Store(y + (t0 + t) * y_stride + h * Rows::kRows, masks[h], acc[h][t]);
    }
  }
}

// The last n < K::kTileTokens tokens of a chunk, one tile of n.
template <class K, int S, int N = K::kTileTokens - 1>
HWY_INLINE void TailTokens(int64_t n, const uint8_t* group, int h0, int64_t b0, int64_t b1,
                           const Activations& a, int64_t t0, float* y, int64_t y_stride,
                           std::array<Rows::Mask, S> masks, bool accumulate) {
  if constexpr (N > 0) {
    if (n == N) {
      return GroupTokens<K, N, S>(group, h0, b0, b1, a, t0, y, y_stride, masks, accumulate);
    }
    TailTokens<K, S, N - 1>(n, group, h0, b0, b1, a, t0, y, y_stride, masks, accumulate);
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
                           Rows::Mask mask1, bool accumulate) {
  static_assert(PairsGroups<K> && Rows::kSlices == 1, "pairs of groups need one vector each");
  Rows::Acc acc0[NT], acc1[NT];
  const int8_t* xq[NT];
  for (int t = 0; t < NT; ++t) {
    float* yt = y + (t0 + t) * y_stride;
    acc0[t] = accumulate ? Rows::Load(yt, Rows::MaskFor(kPackRows)) : Rows::Zero();
    acc1[t] = accumulate ? Rows::Load(yt + kPackRows, mask1) : Rows::Zero();
    xq[t] = a.q + ((t0 + t) * a.cols + b0 * K::kBlockElems) * a.value_bytes;
  }
  for (int64_t b = b0; b < b1; ++b) {
    const size_t off = static_cast<size_t>(b) * K::kGroupBlockBytes;
    K::template RunPair<NT>(group0 + off, group1 + off, xq, acc0, acc1);
    for (int t = 0; t < NT; ++t) xq[t] += K::kBlockElems * K::kValueBytes;
  }
  for (int t = 0; t < NT; ++t) {
    float* yt = y + (t0 + t) * y_stride;
    Rows::Store(yt, Rows::MaskFor(kPackRows), acc0[t]);
    Rows::Store(yt + kPackRows, mask1, acc1[t]);
  }
}

template <class K>
void GroupRange(const WeightMatrix& w, const Activations& a, int64_t num_tokens, float* y,
                int64_t y_stride, int64_t g0, int64_t g1) {
  const int64_t blocks = w.cols / K::kBlockElems;
  const auto group_at = [packed = w.packed, blocks](int64_t g) {
    return packed + static_cast<size_t>(g * blocks) * K::kGroupBlockBytes;
  };
  // The rows of slice h of group g that exist (the last group may be
  // partial; a slice past the end has none).
  const auto valid_rows = [rows = w.rows](int64_t g, int h) {
    return std::clamp<int64_t>(rows - g * kPackRows - h * Rows::kRows, 0, Rows::kRows);
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
          const std::array<Rows::Mask, 2> masks = {Rows::MaskFor(valid_rows(g, 0)),
                                                   Rows::MaskFor(valid_rows(g + 1, 0))};
          float* yg = y + g * kPackRows;
          int64_t t = c0;
          for (; t + K::kTileTokens <= c1; t += K::kTileTokens) {
            PairTokens<K, K::kTileTokens>(group, next, b0, b1, a, t, yg, y_stride, masks[1],
                                          accumulate);
          }
          TailTokens<K, 1>(c1 - t, group, 0, b0, b1, a, t, yg, y_stride, {masks[0]}, accumulate);
          TailTokens<K, 1>(c1 - t, next, 0, b0, b1, a, t, yg + kPackRows, y_stride, {masks[1]},
                           accumulate);
        }
      }
      for (; g < g1; ++g) {
        const uint8_t* group = group_at(g);
        std::array<Rows::Mask, Rows::kSlices> masks;
        for (int h = 0; h < Rows::kSlices; ++h) masks[h] = Rows::MaskFor(valid_rows(g, h));
        float* yg = y + g * kPackRows;
        if constexpr (Rows::kSlices > 1) {
          // Fewer tokens than a tile (decode): every slice in one pass over
          // the row, so each cache line is used whole while in L1. Slice
          // after slice, DRAM idled while the second pass ran: AVX2 decoded
          // the 262144x2304 head at 14 GB/s (Q4_0) and 12 (Q6_K), in one
          // pass at 28 and 18.
          if (c1 - c0 < K::kTileTokens) {
            TailTokens<K, Rows::kSlices>(c1 - c0, group, 0, b0, b1, a, c0, yg, y_stride, masks,
                                         accumulate);
            continue;
          }
        }
        // A full token tile (a server step's eight decode rows, a prompt)
        // has arithmetic enough to hide a DRAM read: the group's first tile
        // asks for the next group, so its reads overlap this group's dot
        // products instead of stalling the next group's first tile. A
        // 262144x1152 Q8_0 matrix (Gemma 3 1B's head) times 8 tokens, one
        // thread: 19.9-24.0 ms -> 11.9-13.8. Decode (a partial tile) asks for
        // nothing (GroupTokens).
        const uint8_t* next = g + 1 < g1 && c1 - c0 >= K::kTileTokens ? group_at(g + 1) : nullptr;
        for (int h = 0; h < Rows::kSlices && valid_rows(g, h) > 0; ++h) {
          float* yh = yg + h * Rows::kRows;
          int64_t t = c0;
          for (; t + K::kTileTokens <= c1; t += K::kTileTokens) {
            GroupTokens<K, K::kTileTokens, 1>(group, h, b0, b1, a, t, yh, y_stride, {masks[h]},
                                              accumulate, h == 0 && t == c0 ? next : nullptr);
          }
          TailTokens<K, 1>(c1 - t, group, h, b0, b1, a, t, yh, y_stride, {masks[h]}, accumulate);
        }
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

// RunGroups over several matrices of one type and width: x rounded once,
// and one ParallelFor over their row groups laid end to end, so a layer's
// q/k/v (or gate/up) cost one hand-off between threads instead of three.
// Each matrix's groups run through the same GroupRange as alone.
template <class K>
void RunGroupsSameInput(std::span<const kernels::PackedOutput> outs, const float* x,
                        int64_t num_tokens, ThreadPool& pool) {
  const Activations a = K::Prepare(x, num_tokens, outs.front().w->cols);
  constexpr size_t kMaxOutputs = 8;
  if (outs.size() > kMaxOutputs) Fail("packed MatMul: more than 8 outputs of one input");
  std::array<int64_t, kMaxOutputs + 1> first_group{};  // outs[i] owns [first[i], first[i + 1])
  size_t bytes = 0;
  for (size_t i = 0; i < outs.size(); ++i) {
    first_group[i + 1] = first_group[i] + (outs[i].w->rows + kPackRows - 1) / kPackRows;
    bytes += PackedBytes(*outs[i].w) * static_cast<size_t>(num_tokens);
  }
  const auto run = [&](int64_t g0, int64_t g1) {
    for (size_t i = 0; i < outs.size(); ++i) {
      const int64_t lo = std::max(g0, first_group[i]), hi = std::min(g1, first_group[i + 1]);
      if (lo >= hi) continue;
      GroupRange<K>(*outs[i].w, a, num_tokens, outs[i].y, outs[i].y_stride, lo - first_group[i],
                    hi - first_group[i]);
    }
  };
  const int64_t groups = first_group[outs.size()];
  if (pool.num_threads() == 1 || bytes < 64 * 1024) return run(0, groups);
  pool.ParallelFor(static_cast<size_t>(groups), 1, [&](size_t g0, size_t g1, int) {
    run(static_cast<int64_t>(g0), static_cast<int64_t>(g1));
  });
}

bool PackedAvailableT() { return true; }

bool PackedBf16T() {
#if HWY_TARGET == HWY_AVX3_DL
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;  // no bf16 dot product: BF16 stays on the float kernels
#endif
}

// x minus what its 8-bit blocks represent (same arithmetic as
// QuantizeActivations), for the second pass of a precise MatMul.
void ActivationResidual(const float* x, int64_t cols, float* out) {
  for (int64_t k0 = 0; k0 < cols; k0 += 32) {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[k0 + i]));
    const float scale = amax / 127.0f;
    const float inv = ActivationInverseScale(scale);
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
    // hi + lo on the pool: over the head's 262144 rows and 8 tokens, on one
    // thread, it was ~2% of an eight-stream server step.
    pool.ParallelFor(static_cast<size_t>(w.rows), 8192, [&](size_t r0, size_t r1, int) {
      for (int64_t t = 0; t < count; ++t) {
        float* dst = y + (t0 + t) * y_stride;
        const float* hi = yr + 2 * t * w.rows;
        const float* lo = hi + w.rows;
        for (size_t r = r0; r < r1; ++r) dst[r] = hi[r] + lo[r];
      }
    });
  }
}

// fn.template operator()<K>() with the packed kernel K of `type`.
template <class Fn>
void WithKernel(DType type, const Fn& fn) {
  switch (type) {
    case DType::kQ4_0:
      return fn.template operator()<KernelQ4_0>();
    case DType::kQ4_1:
      return fn.template operator()<KernelQ4_1>();
    case DType::kQ5_0:
      return fn.template operator()<KernelQ5_0>();
    case DType::kQ5_1:
      return fn.template operator()<KernelQ5_1>();
    case DType::kQ8_0:
      return fn.template operator()<KernelQ8_0>();
    case DType::kQ2_K:
      return fn.template operator()<KernelQ2_K>();
    case DType::kQ3_K:
      return fn.template operator()<KernelQ3_K>();
    case DType::kQ4_K:
      return fn.template operator()<KernelQ4_K>();
    case DType::kQ5_K:
      return fn.template operator()<KernelQ5_K>();
    case DType::kQ6_K:
      return fn.template operator()<KernelQ6_K>();
#if HWY_TARGET == HWY_AVX3_DL
    case DType::kBF16:
      return fn.template operator()<KernelBF16>();
#endif
    default:
      Fail("packed MatMul: no kernel for ", Name(type));
  }
}

void MatMulPackedT(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                   int64_t y_stride, ThreadPool& pool, bool precise) {
  if (w.rows <= 0 || num_tokens <= 0) return;
  WithKernel(w.type,
             [&]<class K>() { MatMulPacked<K>(w, x, num_tokens, y, y_stride, pool, precise); });
}

// Bounds of a head row's logit after its precise pass, plus bias: hi plus
// or minus c * a (c: 1.03 times the residual's largest magnitude, a: the
// row's sum of |w|), widened by s * (|hi| + c * a + e) for the f32
// roundings on the way (e: the biases' magnitudes). In f32: with s = 2^-16
// the widening is hundreds of times the rounding error of this arithmetic.
constexpr float kBoundSlack = 1.0f / 65536.0f;

// The largest lower bound over rows [0, n).
float MaxLowerBound(const float* hi, const float* a, int64_t n, float c, float e) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto vc = hn::Set(d, c), vs = hn::Set(d, kBoundSlack), ve = hn::Set(d, e);
  auto best = hn::Set(d, -std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto h = hn::LoadU(d, hi + i), ca = hn::Mul(vc, hn::LoadU(d, a + i));
    const auto slack = hn::Mul(vs, hn::Add(hn::Add(hn::Abs(h), ca), ve));
    best = hn::Max(best, hn::Sub(hn::Sub(h, ca), slack));
  }
  float m = hn::GetLane(hn::MaxOfLanes(d, best));
  for (; i < n; ++i) {
    const float ca = c * a[i];
    m = std::max(m, hi[i] - ca - kBoundSlack * (std::fabs(hi[i]) + ca + e));
  }
  return m;
}

// Appends the rows of [0, n) whose upper bound reaches `floor`, ascending.
void RowsReaching(const float* hi, const float* a, int64_t n, float c, float e, float floor,
                  std::vector<int64_t>* out) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto vc = hn::Set(d, c), vs = hn::Set(d, kBoundSlack), ve = hn::Set(d, e);
  const auto vf = hn::Set(d, floor);
  const auto upper = [&](int64_t i) {
    const float ca = c * a[i];
    return hi[i] + ca + kBoundSlack * (std::fabs(hi[i]) + ca + e);
  };
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto h = hn::LoadU(d, hi + i), ca = hn::Mul(vc, hn::LoadU(d, a + i));
    const auto slack = hn::Mul(vs, hn::Add(hn::Add(hn::Abs(h), ca), ve));
    if (hn::AllFalse(d, hn::Ge(hn::Add(hn::Add(h, ca), slack), vf))) continue;
    for (int64_t k = i; k < i + lanes; ++k) {
      if (upper(k) >= floor) out->push_back(k);
    }
  }
  for (; i < n; ++i) {
    if (upper(i) >= floor) out->push_back(i);
  }
}

// MatMulPacked's precise head where some tokens' logits are read only by a
// greedy argmax (HeadRowUse). Every token's x goes through one pass
// over the weights, with its rounding residual beside it where the whole row
// is needed. For an argmax-only token the residual's pass (half the head's
// arithmetic) runs only on the row groups that could hold the argmax:
// |lo_i| <= 1.03 * max_j |r_j| * sum_j |w_ij| (|level| <= 128 * block scale,
// the f32 sums' rounding), so a row whose upper bound (hi, bias, bound,
// rounding slack) is below the best lower bound of any row can neither be
// the argmax nor tie it. Those rows get -inf; the rest hi + lo, the same bits
// as MatMulPacked. Only for kernels whose block sum is sum(q * x) (Q4_0, Q5_0,
// Q8_0: no mins), where the bound holds as written.
template <class K>
void MatMulPackedHeadFor(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                         int64_t y_stride, ThreadPool& pool, const HeadRowUse* uses,
                         const float* row_abs_sums) {
  // A pass with fewer greedy tokens than this is bound by reading the
  // weights, which the residuals ride along with for free: it runs the whole
  // precise head (the bounds would only add work; one-stream decode measured
  // 0.9x with them).
  constexpr int64_t kMinGreedyTokens = 4;
  constexpr int64_t kTokensPerPass = 8;
  const int64_t V = w.rows, C = w.cols;
  const int64_t n = std::min(num_tokens, kTokensPerPass);
  float* xr = ThreadScratch<struct PreciseInputs, float>(static_cast<size_t>(2 * n * C));
  float* yr = ThreadScratch<struct PreciseOutputs, float>(static_cast<size_t>(2 * n * V));
  float* res = ThreadScratch<struct GreedyResiduals, float>(static_cast<size_t>(n * C));
  for (int64_t t0 = 0; t0 < num_tokens; t0 += kTokensPerPass) {
    const int64_t count = std::min(kTokensPerPass, num_tokens - t0);
    std::array<int64_t, kTokensPerPass> hi_row{}, lo_row{};
    std::array<float, kTokensPerPass> residual_max{};
    int64_t greedy_in_pass = 0;
    for (int64_t t = 0; t < count; ++t) greedy_in_pass += uses[t0 + t].argmax_only ? 1 : 0;
    if (greedy_in_pass < kMinGreedyTokens) {
      MatMulPacked<K>(w, x + t0 * C, count, y + t0 * y_stride, y_stride, pool, /*precise=*/true);
      continue;
    }
    int64_t m = 0;
    for (int64_t t = 0; t < count; ++t) {
      const float* src = x + (t0 + t) * C;
      float* r = res + t * C;
      ActivationResidual(src, C, r);
      float rmax = 0.0f;
      for (int64_t j = 0; j < C; ++j) rmax = std::max(rmax, std::fabs(r[j]));
      const bool argmax_only = uses[t0 + t].argmax_only && std::isfinite(rmax);
      residual_max[t] = rmax;
      std::copy(src, src + C, xr + m * C);
      hi_row[t] = m++;
      lo_row[t] = -1;
      if (!argmax_only) {
        std::copy(r, r + C, xr + m * C);
        lo_row[t] = m++;
      }
    }
    RunGroups<K>(w, xr, m, yr, V, pool);
    // Whole rows: hi + lo, as MatMulPacked.
    pool.ParallelFor(static_cast<size_t>(V), 8192, [&](size_t r0, size_t r1, int) {
      for (int64_t t = 0; t < count; ++t) {
        if (lo_row[t] < 0) continue;
        float* dst = y + (t0 + t) * y_stride;
        const float* hi = yr + hi_row[t] * V;
        const float* lo = yr + lo_row[t] * V;
        for (size_t r = r0; r < r1; ++r) dst[r] = hi[r] + lo[r];
      }
    });
    // Argmax-only rows, a token per task: the candidates, then their lo.
    pool.ParallelFor(static_cast<size_t>(count), 1, [&](size_t b, size_t e, int) {
      for (size_t t = b; t < e; ++t) {
        if (lo_row[t] >= 0) continue;
        const HeadRowUse& use = uses[t0 + static_cast<int64_t>(t)];
        const int64_t real = std::clamp<int64_t>(use.real_vocab, 0, V);
        float* hi = yr + hi_row[t] * V;  // biased in place below, restored after
        float* dst = y + (t0 + static_cast<int64_t>(t)) * y_stride;
        std::vector<std::pair<int32_t, float>> saved;
        double bias_abs = 0.0;
        for (const auto& [id, bias] : use.bias) {
          if (id < 0 || id >= real) continue;
          saved.emplace_back(id, hi[id]);
          bias_abs += std::fabs(static_cast<double>(bias));
        }
        for (const auto& [id, bias] : use.bias) {
          if (id >= 0 && id < real) hi[id] += bias;
        }
        const float c = 1.03f * residual_max[t];
        const float e = static_cast<float>(bias_abs);
        const float floor = MaxLowerBound(hi, row_abs_sums, real, c, e);
        std::vector<int64_t> candidates;  // ascending
        if (std::isfinite(floor)) {
          RowsReaching(hi, row_abs_sums, real, c, e, floor, &candidates);
        } else {  // no finite bound (NaN logits): the whole row
          for (int64_t i = 0; i < V; ++i) candidates.push_back(i);
        }
        for (const auto& [id, value] : saved) hi[id] = value;  // saved before any bias
        std::fill(dst, dst + V, -std::numeric_limits<float>::infinity());
        const Activations a = K::Prepare(res + static_cast<int64_t>(t) * C, 1, C);
        float* lo = ThreadScratch<struct GreedyLo, float>(static_cast<size_t>(V));
        for (size_t k = 0; k < candidates.size();) {
          const int64_t g = candidates[k] / kPackRows;
          GroupRange<K>(w, a, 1, lo, V, g, g + 1);
          for (; k < candidates.size() && candidates[k] / kPackRows == g; ++k) {
            const int64_t r = candidates[k];
            dst[r] = hi[r] + lo[r];
          }
        }
      }
    });
  }
}

void MatMulPackedHeadForT(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                          int64_t y_stride, ThreadPool& pool, const HeadRowUse* uses,
                          const float* row_abs_sums) {
  if (w.rows <= 0 || num_tokens <= 0) return;
  switch (w.type) {
    case DType::kQ4_0:
      return MatMulPackedHeadFor<KernelQ4_0>(w, x, num_tokens, y, y_stride, pool, uses,
                                             row_abs_sums);
    case DType::kQ5_0:
      return MatMulPackedHeadFor<KernelQ5_0>(w, x, num_tokens, y, y_stride, pool, uses,
                                             row_abs_sums);
    case DType::kQ8_0:
      return MatMulPackedHeadFor<KernelQ8_0>(w, x, num_tokens, y, y_stride, pool, uses,
                                             row_abs_sums);
    default:
      return MatMulPackedT(w, x, num_tokens, y, y_stride, pool, /*precise=*/true);
  }
}

void MatMulPackedSameInputT(const kernels::PackedOutput* outputs, size_t count, const float* x,
                            int64_t num_tokens, ThreadPool& pool) {
  if (count == 0 || num_tokens <= 0) return;
  const std::span<const kernels::PackedOutput> outs(outputs, count);
  WithKernel(outs.front().w->type,
             [&]<class K>() { RunGroupsSameInput<K>(outs, x, num_tokens, pool); });
}

#if HWY_TARGET == HWY_AVX3_DL
GEMMA_POP_AVX512_VNNI_BF16
#endif

#else  // no packed kernels for this target

bool PackedAvailableT() { return false; }
bool PackedBf16T() { return false; }

void MatMulPackedT(const WeightMatrix&, const float*, int64_t, float*, int64_t, ThreadPool&, bool) {
  Fail("packed MatMul: no packed kernels for this CPU");
}

void MatMulPackedSameInputT(const kernels::PackedOutput*, size_t, const float*, int64_t,
                            ThreadPool&) {
  Fail("packed MatMul: no packed kernels for this CPU");
}

void MatMulPackedHeadForT(const WeightMatrix&, const float*, int64_t, float*, int64_t, ThreadPool&,
                          const HeadRowUse*, const float*) {
  Fail("packed MatMul: no packed kernels for this CPU");
}

#endif

}  // namespace HWY_NAMESPACE
}  // namespace gemma
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace gemma {

HWY_EXPORT(PackedAvailableT);
HWY_EXPORT(PackedBf16T);
HWY_EXPORT(MatMulPackedT);
HWY_EXPORT(MatMulPackedSameInputT);
HWY_EXPORT(MatMulPackedHeadForT);

bool PackedMatMulAvailable() { return HWY_DYNAMIC_DISPATCH(PackedAvailableT)(); }

bool PackedMatMulHasBf16() { return HWY_DYNAMIC_DISPATCH(PackedBf16T)(); }

namespace kernels {

void MatMulPackedWeights(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                         int64_t y_stride, ThreadPool& pool, bool precise) {
  HWY_DYNAMIC_DISPATCH(MatMulPackedT)(w, x, num_tokens, y, y_stride, pool, precise);
}

void MatMulPackedHeadFor(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                         int64_t y_stride, ThreadPool& pool, std::span<const HeadRowUse> uses,
                         std::span<const float> row_abs_sums) {
  if (uses.size() < static_cast<size_t>(num_tokens) ||
      row_abs_sums.size() < static_cast<size_t>(w.rows)) {
    Fail("MatMulHeadFor: ", uses.size(), " row uses and ", row_abs_sums.size(), " row sums for ",
         num_tokens, " tokens and ", w.rows, " rows");
  }
  HWY_DYNAMIC_DISPATCH(MatMulPackedHeadForT)
  (w, x, num_tokens, y, y_stride, pool, uses.data(), row_abs_sums.data());
}

void MatMulPackedSameInput(std::span<const PackedOutput> outputs, const float* x,
                           int64_t num_tokens, ThreadPool& pool) {
  HWY_DYNAMIC_DISPATCH(MatMulPackedSameInputT)(outputs.data(), outputs.size(), x, num_tokens, pool);
}
}  // namespace kernels

}  // namespace gemma
#endif  // HWY_ONCE
