// Per-target MatMul drivers, generic over a weight decoder (decode_*-inl.h).
//
// A decoder describes one weight type as a sequence of blocks; Block() calls
// sink(offset, w) for each vector of dequantized f32 weights of a block (offsets
// are compile-time constants after inlining). The drivers:
//  - MatVecRows (num_tokens == 1, memory bound): per row (or four rows in
//    step for wide rows), decode each block into registers and FMA it with x.
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

// Elements of a row that vector code covers: whole blocks for quantized types;
// for the float types (block = one vector), whatever is left is `Dec::Scalar`.
template <class Dec>
HWY_INLINE int64_t VectorPart(DF df, int64_t cols) {
  const int64_t be = static_cast<int64_t>(Dec::BlockElems(df));
  return cols / be * be;
}

// Decoders with one multiplicative scale per block (decode_legacy-inl.h).
template <class Dec>
concept HasBlockScale = requires {
  Dec::kBlockScale;
};

// Adds block `p`'s contribution to the dot product with xb into acc.
template <class Dec>
HWY_INLINE void DotBlock(DF df, const uint8_t* HWY_RESTRICT p, const float* HWY_RESTRICT xb,
                         hn::Vec<DF>& acc) {
  if constexpr (HasBlockScale<Dec>) {
    // Sum levels * x over the block, then scale once: one multiply per block
    // instead of one per vector.
    auto sum = hn::Zero(df);
    Dec::Levels(df, p, [&](size_t off, auto q) HWY_ATTR {
      sum = hn::MulAdd(q, hn::LoadU(df, xb + off), sum);
    });
    acc = hn::MulAdd(sum, hn::Set(df, Dec::BlockScale(p)), acc);
  } else {
    Dec::Block(df, p, [&](size_t off, auto w) HWY_ATTR {
      acc = hn::MulAdd(w, hn::LoadU(df, xb + off), acc);
    });
  }
}

// Dot product of row `row` (cols elements) with x.
template <class Dec>
HWY_INLINE float DotRow(DF df, const uint8_t* HWY_RESTRICT row, const float* HWY_RESTRICT x,
                        int64_t cols) {
  const size_t be = Dec::BlockElems(df);
  const size_t bb = Dec::BlockBytes(df);
  const int64_t nblocks = cols / static_cast<int64_t>(be);
  auto acc0 = hn::Zero(df);
  auto acc1 = hn::Zero(df);
  int64_t b = 0;
  for (; b + 2 <= nblocks; b += 2) {
    const uint8_t* p = row + static_cast<size_t>(b) * bb;
    const float* xb = x + static_cast<size_t>(b) * be;
    DotBlock<Dec>(df, p, xb, acc0);
    DotBlock<Dec>(df, p + bb, xb + be, acc1);
  }
  if (b < nblocks) {
    DotBlock<Dec>(df, row + static_cast<size_t>(b) * bb, x + static_cast<size_t>(b) * be, acc0);
  }
  float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
  for (int64_t k = nblocks * static_cast<int64_t>(be); k < cols; ++k) {
    sum += Dec::Scalar(row, k) * x[k];
  }
  return sum;
}

// Dot products of four rows with x, walking the blocks in step: the x values
// of a block come from L2 once and are reused from L1 by the other rows.
// Without this, rows wider than L1 (x of 9216 floats is 36 KiB) stream x from
// L2 once per row, which costs the down projection a third of its rate.
template <class Dec>
HWY_INLINE void DotRows4(DF df, const uint8_t* const* HWY_RESTRICT rows,
                         const float* HWY_RESTRICT x, int64_t cols, float* HWY_RESTRICT out) {
  const size_t be = Dec::BlockElems(df);
  const size_t bb = Dec::BlockBytes(df);
  const int64_t nblocks = cols / static_cast<int64_t>(be);
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df), acc2 = hn::Zero(df), acc3 = hn::Zero(df);
  for (int64_t b = 0; b < nblocks; ++b) {
    const size_t off = static_cast<size_t>(b) * bb;
    const float* xb = x + static_cast<size_t>(b) * be;
    DotBlock<Dec>(df, rows[0] + off, xb, acc0);
    DotBlock<Dec>(df, rows[1] + off, xb, acc1);
    DotBlock<Dec>(df, rows[2] + off, xb, acc2);
    DotBlock<Dec>(df, rows[3] + off, xb, acc3);
  }
  out[0] = hn::GetLane(hn::SumOfLanes(df, acc0));
  out[1] = hn::GetLane(hn::SumOfLanes(df, acc1));
  out[2] = hn::GetLane(hn::SumOfLanes(df, acc2));
  out[3] = hn::GetLane(hn::SumOfLanes(df, acc3));
  for (int i = 0; i < 4; ++i) {
    for (int64_t k = nblocks * static_cast<int64_t>(be); k < cols; ++k) {
      out[i] += Dec::Scalar(rows[i], k) * x[k];
    }
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
  // halved bf16/q8_0 (23 -> 13 GB/s), and the one-accumulator-per-row chain
  // slows the compute-bound K-quants (q4_K 6.3 -> 5.6 GB/s).
  const bool four_rows = w.cols * static_cast<int64_t>(sizeof(float)) > 16 * 1024 &&
                         Dec::BlockBytes(df) >= Dec::BlockElems(df);
  int64_t r = r0;
  for (; four_rows && r + 4 <= r1; r += 4) {
    const uint8_t* rows[4] = {w.Row(r), w.Row(r + 1), w.Row(r + 2), w.Row(r + 3)};
    DotRows4<Dec>(df, rows, x, w.cols, y + r);
  }
  for (; r < r1; ++r) y[r] = DotRow<Dec>(df, w.Row(r), x, w.cols);
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
// for r < R, t < TT, k < len: the register-tiled inner kernel of the prefill
// path. R x TT accumulators; each step loads R weight and TT activation
// vectors for R * TT FMAs.
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
  // y for row r and token t: the lanes of its accumulator plus the scalar tail.
  const auto finish = [&](size_t r, size_t t, hn::Vec<DF> acc) GEMMA_INLINE_LAMBDA {
    float sum = hn::GetLane(hn::SumOfLanes(df, acc));
    for (size_t k = vec_len; k < len; ++k) sum += wbuf[r * w_stride + k] * x[t * x_stride + k];
    float& out = y[t * y_stride + r];
    out = accumulate ? out + sum : sum;
  };
  const auto tile = [&]<size_t... I>(std::index_sequence<I...>) GEMMA_INLINE_LAMBDA {
    [&](auto... acc) GEMMA_INLINE_LAMBDA {
      for (size_t k = 0; k < vec_len; k += N) {
        ((acc = hn::MulAdd(hn::LoadU(df, wbuf + I / TT * w_stride + k),
                           hn::LoadU(df, x + I % TT * x_stride + k), acc)),
         ...);
      }
      (finish(I / TT, I % TT, acc), ...);
    }(((void)I, hn::Zero(df))...);
  };
  tile(std::make_index_sequence<R * TT>());
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
  // Column chunk: whole blocks (256 covers every block size), small enough
  // that a token block's activations stay in L2 next to the weight tile.
  constexpr int64_t kChunk = 2048;
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
