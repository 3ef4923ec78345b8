// Per-target MatMul drivers, generic over a weight decoder (decode_*-inl.h).
//
// A decoder describes one weight type as a sequence of blocks; Block() calls
// sink(offset, w) for each vector of dequantized f32 weights of a block (offsets
// are compile-time constants after inlining). The drivers:
//  - MatVecRows (num_tokens == 1, memory bound): per row (or four rows in
//    step for wide rows), decode each block into registers (or an L1 buffer)
//    and FMA it with x, in the order the tiled path sums a row in.
//  - MatMulTiledRows (num_tokens > 1, compute bound): dequantize a tile of 4
//    rows x a column chunk into a per-thread f32 buffer once, then multiply it
//    with blocks of tokens in a register-tiled micro-kernel, so decoding costs
//    are amortised over the tokens of a block.
// The int8 path with quantized activations and repacked weights is
// matmul_packed.cc; these serve the types and CPUs it does not, and --exact.
//
// Include after hwy/highway.h, inside the foreach_target loop of a dispatch TU.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "hwy/aligned_allocator.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/inline_lambda.h"
#include "kernels/ops.h"
#include "kernels/scratch.h"
#include "threading/thread_pool.h"

#if defined(GEMMA_KERNELS_MATMUL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef GEMMA_KERNELS_MATMUL_INL_H_
#undef GEMMA_KERNELS_MATMUL_INL_H_
#else
#define GEMMA_KERNELS_MATMUL_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace gemma {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 f32 lanes: decoders split 32-value blocks and 16-value K-quant
// groups into whole vectors.
using DF = hn::CappedTag<float, 16>;

// Below this many weight bytes a MatMul runs on the calling thread only: waking
// workers would cost more than the work.
constexpr size_t kMinParallelBytes = 64 * 1024;

// The order every float-path dot product sums in, whatever the batch, so
// that a token's result does not depend on the tokens beside it (a prompt fed
// in pieces of any size, a request alone or beside others): the columns go in
// chunks of kChunk; within a chunk, groups of kGroup columns alternate between
// two accumulators (even groups, odd groups), each summing dequantized f32
// weights times x vector by vector in ascending order; the two added, their
// lanes summed, the chunk's scalar tail added, and the chunk's sum added to the
// sum of the chunks before it. A lone row (memory-bound decode) walks its bytes
// in one sequential stream with two independent FMA chains; the tiled kernel
// runs the even and the odd groups one pass after the other in the same
// registers, each pass reading whole 128-byte line pairs of its tile.
// docs/numerics.md, "Batch invariance".
constexpr int64_t kChunk = 2048;
constexpr size_t kGroup = 32;

// A chunk's two accumulators added, then their lanes.
HWY_INLINE float SumEvenOdd(DF df, hn::Vec<DF> even, hn::Vec<DF> odd) {
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(even, odd)));
}

// sum + w * x, rounded twice (-ffp-contract=off) in every kernel alike.
HWY_INLINE float AddProduct(float sum, float w, float x) { return sum + w * x; }

// acc_i += w_i[0, n) * x[0, n) for the R (1 or 4) rows w_i, vector by vector;
// n is a multiple of the lane count. The four rows in step read a vector of x
// from L2 once and from L1 for the other rows: without this, rows wider than
// L1 (x of 9216 floats is 36 KiB) stream x from L2 once per row, which costs
// the down projection a third of its rate.
template <size_t R, class Load>
HWY_INLINE void DotVectors(DF df, const Load& load, size_t begin, size_t end,
                           const float* HWY_RESTRICT x, hn::Vec<DF>& acc0, hn::Vec<DF>& acc1,
                           hn::Vec<DF>& acc2, hn::Vec<DF>& acc3) {
  const size_t N = hn::Lanes(df);
  for (size_t k = begin; k < end; k += N) {
    const auto xv = hn::LoadU(df, x + k);
    acc0 = hn::MulAdd(load(0, k), xv, acc0);
    if constexpr (R == 4) {
      acc1 = hn::MulAdd(load(1, k), xv, acc1);
      acc2 = hn::MulAdd(load(2, k), xv, acc2);
      acc3 = hn::MulAdd(load(3, k), xv, acc3);
    }
  }
}

// Dot products of R rows (R = 1 or 4, in step) with x over the chunk [k0, k1)
// in the order above, written to out[0, R).
template <class Dec, size_t R>
HWY_INLINE void ChunkDots(DF df, const uint8_t* const* HWY_RESTRICT rows,
                          const float* HWY_RESTRICT x, int64_t k0, int64_t k1,
                          float* HWY_RESTRICT out) {
  static_assert(R == 1 || R == 4);
  const size_t N = hn::Lanes(df);
  const size_t be = Dec::BlockElems(df);
  const size_t bb = Dec::BlockBytes(df);
  const size_t blocks = static_cast<size_t>(k1 - k0) / be;
  const size_t vec_len = blocks * be;
  const float* xc = x + k0;
  const size_t first_block = static_cast<size_t>(k0) / be;
  // Row i's even and odd accumulators: e_i, o_i (rows past R are not used).
  auto e0 = hn::Zero(df), e1 = hn::Zero(df), e2 = hn::Zero(df), e3 = hn::Zero(df);
  auto o0 = hn::Zero(df), o1 = hn::Zero(df), o2 = hn::Zero(df), o3 = hn::Zero(df);
  if (be == N) {
    // One vector per block (the float types): decoded straight from the row.
    const auto load = [&](size_t i, size_t k) GEMMA_INLINE_LAMBDA {
      hn::Vec<DF> v;
      Dec::Block(df, rows[i] + (first_block + k / N) * bb, [&](size_t, auto w) HWY_ATTR { v = w; });
      return v;
    };
    size_t k = 0;
    for (; k + 2 * kGroup <= vec_len; k += 2 * kGroup) {
      DotVectors<R>(df, load, k, k + kGroup, xc, e0, e1, e2, e3);
      DotVectors<R>(df, load, k + kGroup, k + 2 * kGroup, xc, o0, o1, o2, o3);
    }
    const size_t mid = std::min(vec_len, k + kGroup);
    DotVectors<R>(df, load, k, mid, xc, e0, e1, e2, e3);
    DotVectors<R>(df, load, mid, vec_len, xc, o0, o1, o2, o3);
  } else {
    // Blocks of whole groups or groups of whole blocks (be = 32..256, N <= 16).
    // A block goes through an L1 buffer because decoders emit its vectors in
    // their own order (Q4_K with 8 lanes: 0, 4, 1, 5, ...) and an accumulator
    // takes its vectors in ascending order, as the tiled kernel does.
    HWY_ALIGN float wbuf[R][256];  // the largest block (K-quants)
    const auto load = [&](size_t i, size_t k)
                          GEMMA_INLINE_LAMBDA { return hn::Load(df, wbuf[i] + k); };
    for (size_t b = 0; b < blocks; ++b) {
      for (size_t i = 0; i < R; ++i) {
        Dec::Block(df, rows[i] + (first_block + b) * bb,
                   [&](size_t off, auto w) HWY_ATTR { hn::Store(w, df, wbuf[i] + off); });
      }
      const float* xb = xc + b * be;
      if (be <= kGroup) {
        // Blocks within one group (Q8_0 and the other 32-value blocks) are
        // even or odd as a whole.
        if ((b * be / kGroup) % 2 == 1) {
          DotVectors<R>(df, load, 0, be, xb, o0, o1, o2, o3);
        } else {
          DotVectors<R>(df, load, 0, be, xb, e0, e1, e2, e3);
        }
      } else {
        // K-quant blocks hold whole pairs of groups.
        for (size_t g = 0; g < be; g += 2 * kGroup) {
          DotVectors<R>(df, load, g, g + kGroup, xb, e0, e1, e2, e3);
          DotVectors<R>(df, load, g + kGroup, g + 2 * kGroup, xb, o0, o1, o2, o3);
        }
      }
    }
  }
  out[0] = SumEvenOdd(df, e0, o0);
  if constexpr (R == 4) {
    out[1] = SumEvenOdd(df, e1, o1);
    out[2] = SumEvenOdd(df, e2, o2);
    out[3] = SumEvenOdd(df, e3, o3);
  }
  for (size_t i = 0; i < R; ++i) {
    for (int64_t k = k0 + static_cast<int64_t>(vec_len); k < k1; ++k) {
      out[i] = AddProduct(out[i], Dec::Scalar(rows[i], k), x[k]);
    }
  }
}

// Rows [r0, r0 + R) of w times x, chunk by chunk.
template <class Dec, size_t R>
HWY_INLINE void RowDots(DF df, const WeightMatrix& w, const float* HWY_RESTRICT x, int64_t r0,
                        float* HWY_RESTRICT y) {
  const uint8_t* rows[R];
  for (size_t i = 0; i < R; ++i) rows[i] = w.Row(r0 + static_cast<int64_t>(i));
  float* out = y + r0;
  float sums[R];
  for (int64_t k0 = 0; k0 < w.cols; k0 += kChunk) {
    ChunkDots<Dec, R>(df, rows, x, k0, std::min(w.cols, k0 + kChunk), sums);
    for (size_t i = 0; i < R; ++i) out[i] = k0 == 0 ? sums[i] : out[i] + sums[i];
  }
}

template <class Dec>
void MatVecRows(const WeightMatrix& w, const float* HWY_RESTRICT x, float* HWY_RESTRICT y,
                int64_t r0, int64_t r1) {
  const DF df;
  // Four rows in step only pays where x is wider than ~half of L1 and the
  // type is light to decode (>= 8 bits per weight, so the kernel is
  // bandwidth-bound). Measured single-threaded: 2304x9216 bf16 13 -> 20 GB/s,
  // q8_0 10 -> 16 GB/s; but with 2304 columns the interleaved DRAM streams
  // halved bf16/q8_0 (23 -> 13 GB/s).
  const bool four_rows = w.cols * static_cast<int64_t>(sizeof(float)) > 16 * 1024 &&
                         Dec::BlockBytes(df) >= Dec::BlockElems(df);
  int64_t r = r0;
  for (; four_rows && r + 4 <= r1; r += 4) RowDots<Dec, 4>(df, w, x, r, y);
  for (; r < r1; ++r) RowDots<Dec, 1>(df, w, x, r, y);
}

// Writes elements [k0, k1) of a row as f32 to out[0, k1 - k0). k0 is a
// multiple of the block size; k1 is one too or the end of the row.
template <class Dec>
HWY_INLINE void DequantizeSlice(DF df, const uint8_t* HWY_RESTRICT row, int64_t k0, int64_t k1,
                                float* HWY_RESTRICT out) {
  const int64_t be = static_cast<int64_t>(Dec::BlockElems(df));
  const size_t bb = Dec::BlockBytes(df);
  const int64_t vec_end = k0 + (k1 - k0) / be * be;
  for (int64_t k = k0; k < vec_end; k += be) {
    float* o = out + (k - k0);
    Dec::Block(df, row + static_cast<size_t>(k / be) * bb,
               [&](size_t off, auto v) HWY_ATTR { hn::StoreU(v, df, o + off); });
  }
  for (int64_t k = vec_end; k < k1; ++k) out[k - k0] = Dec::Scalar(row, k);
}

template <class Dec>
void DequantizeRowT(const WeightMatrix& w, int64_t r, float* HWY_RESTRICT out) {
  DequantizeSlice<Dec>(DF(), w.Row(r), 0, w.cols, out);
}

// y[t * y_stride + r] (+)= sum_k wbuf[r * w_stride + k] * x[t * x_stride + k]
// for r < R, t < TT, k < len, summed in ChunkDots' order: the register-tiled
// inner kernel of the prefill path. R x TT accumulators; each step loads R
// weight and TT activation vectors for R * TT FMAs. A first pass sums the even
// groups, whose accumulators wait in memory while a second pass sums the odd
// ones in the same registers.
//
// The accumulators are a parameter pack, acc_I for row I / TT and token I % TT,
// not an array: SVE's sizeless vector types cannot be array elements, but can
// be function parameters. Fold expressions over I unroll the tile. A step
// names each weight vector TT times and each activation vector R times; the
// compiler loads each once (nothing is stored in between).
template <size_t R, size_t TT>
HWY_INLINE void TileKernel(DF df, const float* HWY_RESTRICT wbuf, size_t w_stride,
                           const float* HWY_RESTRICT x, size_t x_stride, size_t len,
                           float* HWY_RESTRICT y, size_t y_stride, bool accumulate) {
  const size_t N = hn::Lanes(df);
  const size_t vec_len = len / N * N;
  // The even pass's accumulators; DF has at most 16 lanes.
  HWY_ALIGN float even[R * TT * 16];
  // y for row r and token t: the two passes' lanes plus the scalar tail.
  const auto finish = [&](size_t i, hn::Vec<DF> odd) GEMMA_INLINE_LAMBDA {
    const size_t r = i / TT, t = i % TT;
    float sum = SumEvenOdd(df, hn::Load(df, even + i * 16), odd);
    for (size_t k = vec_len; k < len; ++k) {
      sum = AddProduct(sum, wbuf[r * w_stride + k], x[t * x_stride + k]);
    }
    float& out = y[t * y_stride + r];
    out = accumulate ? out + sum : sum;
  };
  const auto pass = [&]<size_t... I>(std::index_sequence<I...>, bool odd) GEMMA_INLINE_LAMBDA {
    [&](auto... acc) GEMMA_INLINE_LAMBDA {
      const auto step = [&](size_t k) GEMMA_INLINE_LAMBDA {
        ((acc = hn::MulAdd(hn::LoadU(df, wbuf + I / TT * w_stride + k),
                           hn::LoadU(df, x + I % TT * x_stride + k), acc)),
         ...);
      };
      // Whole pairs of groups (kGroup / N steps each, unrolled), then the
      // rest of this pass's group in the last, partial pair.
      const size_t whole = vec_len / (2 * kGroup) * (2 * kGroup);
      const size_t first = odd ? kGroup : 0;
      for (size_t g = first; g < whole; g += 2 * kGroup) {
        for (size_t j = 0; j < kGroup; j += N) step(g + j);
      }
      const size_t rest_end = std::min(vec_len, whole + first + kGroup);
      for (size_t k = whole + first; k < rest_end; k += N) step(k);
      if (odd) {
        (finish(I, acc), ...);
      } else {
        (hn::Store(acc, df, even + I * 16), ...);
      }
    }(((void)I, hn::Zero(df))...);
  };
  pass(std::make_index_sequence<R * TT>(), false);
  pass(std::make_index_sequence<R * TT>(), true);
}

// Tokens per micro-tile: with 32 vector registers (AVX-512) a 4 x 4 tile of
// accumulators fits beside the 4 weight vectors; with 16, 4 x 2.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr size_t kTileTokens = 4;
#else
constexpr size_t kTileTokens = 2;
#endif
constexpr size_t kTileRows = 4;

// Runs the micro-kernel over `rows` (<= kTileRows) dequantized rows and
// `tokens` tokens, picking tile shapes for the edges.
template <size_t R>
HWY_INLINE void TileRowsOverTokens(DF df, const float* wbuf, size_t w_stride, const float* x,
                                   size_t x_stride, size_t tokens, size_t len, float* y,
                                   size_t y_stride, bool accumulate) {
  size_t t = 0;
  for (; t + kTileTokens <= tokens; t += kTileTokens) {
    TileKernel<R, kTileTokens>(df, wbuf, w_stride, x + t * x_stride, x_stride, len,
                               y + t * y_stride, y_stride, accumulate);
  }
  for (; t < tokens; ++t) {
    TileKernel<R, 1>(df, wbuf, w_stride, x + t * x_stride, x_stride, len, y + t * y_stride,
                     y_stride, accumulate);
  }
}

// Per-thread scratch for dequantized weight tiles.
struct WeightTileScratch;
inline float* TileScratch(size_t floats) { return ThreadScratch<WeightTileScratch, float>(floats); }

template <class Dec>
void MatMulTiledRows(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                     int64_t y_stride, int64_t r0, int64_t r1) {
  const DF df;
  const int64_t cols = w.cols;
  // Column chunk (kChunk): whole blocks (256 covers every block size), small
  // enough that a token block's activations stay in L2 next to the weight tile.
  // Activation bytes per token block: half of a 1 MiB L2. Larger blocks mean
  // fewer passes over (and dequantizations of) the weights; measured on
  // 2304x2304 x 64 tokens, 512 KiB beat 256 KiB by 5% (q4_0) to 20% (f32).
  constexpr int64_t kXBytes = 512 * 1024;
  const int64_t chunk = std::min(cols, kChunk);
  const int64_t token_block = std::max<int64_t>(
      kTileTokens, (kXBytes / static_cast<int64_t>(sizeof(float) * chunk)) /
                       static_cast<int64_t>(kTileTokens) * static_cast<int64_t>(kTileTokens));
  float* wbuf = TileScratch(kTileRows * static_cast<size_t>(chunk));
  for (int64_t k0 = 0; k0 < cols; k0 += chunk) {
    const int64_t k1 = std::min(cols, k0 + chunk);
    const size_t len = static_cast<size_t>(k1 - k0);
    for (int64_t t0 = 0; t0 < num_tokens; t0 += token_block) {
      const size_t tokens = static_cast<size_t>(std::min(token_block, num_tokens - t0));
      const float* xt = x + static_cast<size_t>(t0 * cols + k0);
      float* yt = y + static_cast<size_t>(t0 * y_stride);
      for (int64_t r = r0; r < r1; r += static_cast<int64_t>(kTileRows)) {
        const size_t rows = static_cast<size_t>(std::min<int64_t>(kTileRows, r1 - r));
        for (size_t i = 0; i < rows; ++i) {
          DequantizeSlice<Dec>(df, w.Row(r + static_cast<int64_t>(i)), k0, k1, wbuf + i * len);
        }
        // Ask for the next tile's weights now, so they arrive from L3/DRAM
        // while the micro-kernel computes instead of stalling the next
        // dequantization (matters most for the wide f32/bf16 rows).
        const int64_t next = r + static_cast<int64_t>(kTileRows);
        if (next < r1) {
          const size_t b0 = BytesFor(w.type, k0), b1 = BytesFor(w.type, k1);
          const int64_t next_rows = std::min<int64_t>(kTileRows, r1 - next);
          for (int64_t i = 0; i < next_rows; ++i) {
            const uint8_t* p = w.Row(next + i);
            for (size_t off = b0; off < b1; off += 64) hwy::Prefetch(p + off);
          }
        }
        float* yr = yt + r;
        const size_t xs = static_cast<size_t>(cols), ys = static_cast<size_t>(y_stride);
        const bool acc = k0 > 0;
        if (rows == 4) {
          TileRowsOverTokens<4>(df, wbuf, len, xt, xs, tokens, len, yr, ys, acc);
        } else if (rows == 3) {
          TileRowsOverTokens<3>(df, wbuf, len, xt, xs, tokens, len, yr, ys, acc);
        } else if (rows == 2) {
          TileRowsOverTokens<2>(df, wbuf, len, xt, xs, tokens, len, yr, ys, acc);
        } else {
          TileRowsOverTokens<1>(df, wbuf, len, xt, xs, tokens, len, yr, ys, acc);
        }
      }
    }
  }
}

// The whole MatMul for one weight type: picks the path and splits rows
// across the pool.
template <class Dec>
void MatMulT(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y, int64_t y_stride,
             ThreadPool& pool) {
  if (w.rows <= 0 || num_tokens <= 0) return;
  const size_t rows = static_cast<size_t>(w.rows);
  const bool parallel = pool.num_threads() > 1 &&
                        w.row_bytes * rows * static_cast<size_t>(num_tokens) >= kMinParallelBytes;
  if (num_tokens == 1) {
    if (!parallel) return MatVecRows<Dec>(w, x, y, 0, w.rows);
    pool.ParallelFor(rows, 16, [&](size_t begin, size_t end, int) {
      MatVecRows<Dec>(w, x, y, static_cast<int64_t>(begin), static_cast<int64_t>(end));
    });
    return;
  }
  if (!parallel) return MatMulTiledRows<Dec>(w, x, num_tokens, y, y_stride, 0, w.rows);
  pool.ParallelFor(rows, kTileRows, [&](size_t begin, size_t end, int) {
    MatMulTiledRows<Dec>(w, x, num_tokens, y, y_stride, static_cast<int64_t>(begin),
                         static_cast<int64_t>(end));
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace gemma
HWY_AFTER_NAMESPACE();

#endif  // GEMMA_KERNELS_MATMUL_INL_H_ toggle
