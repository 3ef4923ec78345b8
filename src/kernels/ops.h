// The compute operations the model calls. Plain C++ signatures; the SIMD target
// (AVX2, AVX-512, NEON, ...) is chosen at run time behind them (Highway dynamic
// dispatch, once per call on whole tensors). Scalar references of every op live
// in kernels/ref/ and are what the tests compare each compiled target against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/dtype.h"

namespace gemma {

class MappedFile;
class ThreadPool;

// A weight matrix in the HF layout [rows = out features, cols = in features],
// each row stored contiguously as `cols` elements of `type` (quantized types: a
// sequence of blocks). Points into mmapped file data; never owned.
struct WeightMatrix {
  DType type = DType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;  // BytesFor(type, cols)
  // Optional repacked copy for the integer kernels (kernels/packed_matmul.h);
  // when set, MatMul reads it instead of `data`. DequantizeRow reads `data`.
  const uint8_t* packed = nullptr;
  // The mapped file `data` lies in, if any: CopyRows and LookupRow read
  // through it without touching the mapping.
  const MappedFile* file = nullptr;

  const uint8_t* Row(int64_t r) const {
    return static_cast<const uint8_t*>(data) + static_cast<size_t>(r) * row_bytes;
  }
};

// Limits the SIMD code paths dispatch may choose to the target `name` (a
// Highway target name such as "AVX2" or "AVX3_DL", any case) and weaker
// ones, for the whole process. Throws Error if this build has no such target
// or the CPU cannot run it. For comparing code paths on one machine.
void LimitSimdTarget(std::string_view name);

// The name of the SIMD target dynamic dispatch runs now (e.g. "AVX3_DL",
// "AVX2"), as reported by a dispatched function.
std::string SimdTargetName();

// Weight types MatMul supports.
bool MatMulSupports(DType type);

// y[t, r] = sum_c W[r, c] * x[t, c] for t < num_tokens, r < W.rows.
// x: [num_tokens, W.cols] row-major f32; y: [num_tokens, y_stride] with y_stride >= W.rows.
// Accumulation in f32. Rows are split across the pool's threads.
void MatMul(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y, int64_t y_stride,
            ThreadPool& pool);

// Several matrices of one input (a layer's q/k/v, its gate/up): y_i = W_i x
// for each output, the same bits as a MatMul per output. On the packed path
// the outputs of one weight type share one rounding of x and one pass of the
// pool over all their row groups (one hand-off between threads instead of
// one per matrix). Every W_i must have x's width.
struct MatMulOutput {
  const WeightMatrix* w;
  float* y;
  int64_t y_stride;
};
void MatMulSameInput(std::span<const MatMulOutput> outputs, const float* x, int64_t num_tokens,
                     ThreadPool& pool);

// MatMul for the output head. On the packed int8 path each token also runs
// its 8-bit rounding error through the kernel (activations good to ~15 bits),
// in the same pass over the weights: the logits feed sampling directly, and
// 8-bit head activations alone cost the Q4_K_M golden case a third of its
// top-1 margin. Elsewhere the same as MatMul.
void MatMulHead(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                int64_t y_stride, ThreadPool& pool);

// How a caller reads one row of the head's logits (MatMulHeadFor).
struct HeadRowUse {
  // Only the argmax of (logits + bias) over ids [0, real_vocab) is read:
  // greedy decoding without log-probabilities, penalties or a constraint.
  bool argmax_only = false;
  int32_t real_vocab = 0;
  std::span<const std::pair<int32_t, float>> bias;  // added in order, as the sampler does
};

// sum_j |W[r, j]| for every row: the dequantized weights summed in double,
// rounded up to f32. Read through CopyRows (no page of a mapping stays).
std::vector<float> RowAbsSums(const WeightMatrix& w, ThreadPool& pool);

// Whether MatMulHeadFor saves work on argmax-only rows of w (packed Q4_0,
// Q5_0, Q8_0: the integer kernels whose blocks have no min term).
bool MatMulHeadForSaves(const WeightMatrix& w);

// MatMulHead, except that on an argmax-only row (uses[t]) the precise second
// pass runs only where a bound on it says the row could be the argmax: every
// other row holds -inf. The rows computed hold MatMulHead's bits, so the
// argmax (ties to the lowest id) is MatMulHead's. row_abs_sums: RowAbsSums(w).
void MatMulHeadFor(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                   int64_t y_stride, ThreadPool& pool, std::span<const HeadRowUse> uses,
                   std::span<const float> row_abs_sums);

// Writes row r of `w` widened to f32 (dequantized) into out[0 .. w.cols).
void DequantizeRow(const WeightMatrix& w, int64_t r, float* out);

// The bytes of rows [r0, r0 + n) of w into dst (n * w.row_bytes of them): a
// file read where w lies in a mapped file (MappedFile::CopyOut), so that no
// page of the mapping becomes resident; a copy otherwise.
void CopyRows(const WeightMatrix& w, int64_t r0, int64_t n, uint8_t* dst);

// DequantizeRow of the bytes CopyRows reads: for row lookups in large tables
// (embeddings, per-layer embeddings), which would otherwise map up to a whole
// page-cache folio (2 MiB) of the table per row read.
void LookupRow(const WeightMatrix& w, int64_t r, float* out);

// out[i] = x[i] / sqrt(mean(x^2) + eps) * gain[i], for i < n. out may alias x.
void RMSNorm(const float* x, const float* gain, float eps, int64_t n, float* out);

// x[i] = gelu_tanh(gate[i]) * x[i]  (GeGLU: x holds the up projection).
void GeluTanhMul(const float* gate, float* x, int64_t n);

// x[i] = cap * tanh(x[i] / cap).
void SoftCap(float cap, float* x, int64_t n);

// In-place softmax over n values (f32, max-subtracted).
void Softmax(float* x, int64_t n);

// The first index of the largest non-NaN value of x[0..n) (0 if all are NaN).
int64_t ArgMaxF32(const float* x, int64_t n);

// Dot product of two f32 vectors.
float Dot(const float* a, const float* b, int64_t n);

// out[t * rows + r] = sum_c w[r, c] * x[t][c] for t < num_x (1 to
// kDotsF64Tile vectors), w row-major [rows, cols]: each product in f64 (exact)
// and the sum in f64 in one fixed order (16 interleaved partial sums, then
// pairwise), rounded to f32 at the end. The same bits on every SIMD target
// and for any num_x. For the MoE router, whose choice of experts should not
// flip on rounding.
constexpr int kDotsF64Tile = 4;
void DotsF64(const float* w, int64_t rows, int64_t cols, const float* const* x, int num_x,
             float* out);

// out[i] += a * x[i].
void AddScaled(float a, const float* x, float* out, int64_t n);

// out[i] = exp(x[i] - shift) for i < n; returns the sum of out. out may alias x.
float ExpShifted(const float* x, float shift, float* out, int64_t n);

// The products of one attention tile (kernels/attention_tile.cc), reading the
// cache's K/V rows where they lie: row j of the tile starts at rows[j] and
// holds d elements of `type`, which must be one AttentionReadsDirectly takes.
// Each result is summed in one fixed order whatever nq is, so a query's
// attention does not depend on how the prompt was batched.
bool AttentionReadsDirectly(DType type);  // f32, bf16, f16
// scores[q * score_stride + j] = queries[q, :] . key_j   (q < nq, j < count)
void AttentionScores(const float* queries, int nq, int d, const void* const* key_rows, DType type,
                     int count, float* scores, int score_stride);
// pv[q, i] = sum over j < count, in order, of probs[q * prob_stride + j] * value_j[i]
void AttentionValues(const float* probs, int prob_stride, int nq, const void* const* value_rows,
                     DType type, int count, int d, float* pv);

// The same two products for bf16 rows with AVX512_BF16 dot products
// (kernels/attention_bf16.cc): queries and probabilities are rounded to bf16,
// products summed in f32. Half the multiply instructions; used outside
// --exact. Each returns false, doing nothing, where the CPU lacks AVX512_BF16
// or d is not a multiple of 32; the f32 kernels are then the ones to call.
bool AttentionBf16DotAvailable();
bool AttentionScoresBf16(const float* queries, int nq, int d, const void* const* key_rows,
                         int count, float* scores, int score_stride);
bool AttentionValuesBf16(const float* probs, int prob_stride, int nq, const void* const* value_rows,
                         int count, int d, float* pv);

}  // namespace gemma
