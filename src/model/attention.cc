#include "model/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ops.h"
#include "memory/kv_cache.h"
#include "threading/thread_pool.h"

namespace gemma {

void TiledAttention::Run(const LayerSpec& l, int layer, const float* q, int n, int start_pos,
                         const KvCache& cache, ThreadPool& pool, float* out) {
  const int d = l.head_dim;
  const int heads = l.num_attention_heads;
  const int kv_heads = l.num_key_value_heads;
  const int group = heads / kv_heads;  // query heads sharing one kv head (contiguous)
  const int q_width = heads * d;
  const int window = l.attention == AttentionType::kSliding ? l.sliding_window : 0;
  const int blocks = (n + kQueryBlock - 1) / kQueryBlock;
  const int queries_per_item = std::min(n, kQueryBlock) * group;
  const bool bf16_dot = bf16_dot_ && cache.type() == DType::kBF16;

  // Key positions query t sees: [FirstKey(t), start_pos + t].
  auto first_key = [&](int t) {
    const int pos = start_pos + t;
    return window > 0 ? std::max(0, pos - window + 1) : 0;
  };

  // Decode has a single token and often one kv head: split the keys across
  // threads then, and merge the partial softmax sums afterwards.
  const int items_without_split = kv_heads * blocks;
  const int span = start_pos + n - first_key(0);
  int splits = 1;
  if (items_without_split < pool.num_threads()) {
    const int tiles = (span + kKeyTile - 1) / kKeyTile;
    splits = std::clamp(pool.num_threads() / items_without_split, 1, std::max(1, tiles));
  }
  if (static_cast<int>(scratch_.size()) < pool.num_threads()) scratch_.resize(pool.num_threads());
  const size_t partial_stride = static_cast<size_t>(d) + 2;
  if (splits > 1) {
    partials_.resize(static_cast<size_t>(splits) * items_without_split * queries_per_item *
                     partial_stride);
  }

  pool.ParallelFor(
      static_cast<size_t>(items_without_split) * splits, 1,
      [&](size_t begin, size_t end, int thread) {
        TileBuffers& s = scratch_[thread];
        s.keys.resize(static_cast<size_t>(kKeyTile) * d);
        s.values.resize(static_cast<size_t>(kKeyTile) * d);
        s.scores.resize(static_cast<size_t>(queries_per_item) * kKeyTile);
        s.probs.resize(static_cast<size_t>(queries_per_item) * kKeyTile);
        s.pv.resize(static_cast<size_t>(queries_per_item) * d);
        s.queries.resize(static_cast<size_t>(queries_per_item) * d);
        s.acc.resize(static_cast<size_t>(queries_per_item) * d);
        s.max.resize(queries_per_item);
        s.sum.resize(queries_per_item);
        const void* key_rows[kKeyTile];
        const void* value_rows[kKeyTile];
        for (size_t item = begin; item < end; ++item) {
          const int split = static_cast<int>(item % splits);
          const int base_item = static_cast<int>(item / splits);
          const int kv_head = base_item % kv_heads;
          const int block = base_item / kv_heads;
          const int t0 = block * kQueryBlock;
          const int t1 = std::min(n, t0 + kQueryBlock);
          const int nq = (t1 - t0) * group;

          // Queries of this block and kv head, pre-scaled as the reference does
          // (q * scaling before q . k).
          for (int t = t0; t < t1; ++t) {
            for (int g = 0; g < group; ++g) {
              const float* src = q + static_cast<size_t>(t) * q_width + (kv_head * group + g) * d;
              float* dst = &s.queries[static_cast<size_t>((t - t0) * group + g) * d];
              for (int i = 0; i < d; ++i) dst[i] = src[i] * l.query_scale;
            }
          }
          std::fill(s.acc.begin(), s.acc.begin() + static_cast<size_t>(nq) * d, 0.0f);
          std::fill(s.max.begin(), s.max.begin() + nq, -INFINITY);
          std::fill(s.sum.begin(), s.sum.begin() + nq, 0.0f);

          // This split's share of the keys any query of the block can see, in
          // tiles aligned to absolute positions: a query meets the same tiles
          // however the prompt was batched, so chunked and one-pass prefill do
          // the same arithmetic.
          const int lo = first_key(t0) / kKeyTile * kKeyTile;
          const int hi = start_pos + t1;  // exclusive
          const int tiles = (hi - lo + kKeyTile - 1) / kKeyTile;
          const int tile_begin = static_cast<int>(static_cast<int64_t>(tiles) * split / splits);
          const int tile_end = static_cast<int>(static_cast<int64_t>(tiles) * (split + 1) / splits);
          for (int tile = tile_begin; tile < tile_end; ++tile) {
            const int k0 = lo + tile * kKeyTile;
            const int count = std::min(kKeyTile, hi - k0);
            cache.KeyRows(layer, kv_head, k0, count, key_rows);
            cache.ValueRows(layer, kv_head, k0, count, value_rows);
            DType row_type = cache.type();
            if (!AttentionReadsDirectly(row_type)) {
              // Block-quantized cache: widen the tile to f32 first.
              cache.LoadKeys(layer, kv_head, k0, count, s.keys.data());
              cache.LoadValues(layer, kv_head, k0, count, s.values.data());
              for (int j = 0; j < count; ++j) {
                key_rows[j] = &s.keys[static_cast<size_t>(j) * d];
                value_rows[j] = &s.values[static_cast<size_t>(j) * d];
              }
              row_type = DType::kF32;
            }
            if (!(bf16_dot && AttentionScoresBf16(s.queries.data(), nq, d, key_rows, count,
                                                  s.scores.data(), kKeyTile))) {
              AttentionScores(s.queries.data(), nq, d, key_rows, row_type, count, s.scores.data(),
                              kKeyTile);
            }
            bool any_visible = false;
            for (int qi = 0; qi < nq; ++qi) {
              const int t = t0 + qi / group;
              // Visible keys j: first_key(t) <= j <= pos (causal + window).
              const int j0 = std::max(k0, first_key(t));
              const int j1 = std::min(k0 + count, start_pos + t + 1);
              float* score = &s.scores[static_cast<size_t>(qi) * kKeyTile];
              float* prob = &s.probs[static_cast<size_t>(qi) * kKeyTile];
              std::fill(prob, prob + kKeyTile, 0.0f);
              if (j0 >= j1) continue;
              any_visible = true;
              float* visible = score + (j0 - k0);
              if (l.attn_logit_softcap > 0) SoftCap(l.attn_logit_softcap, visible, j1 - j0);
              const float tile_max = *std::max_element(visible, visible + (j1 - j0));
              // Online softmax: rescale what was accumulated to the new maximum.
              float* acc = &s.acc[static_cast<size_t>(qi) * d];
              const float new_max = std::max(s.max[qi], tile_max);
              const float rescale = std::exp(s.max[qi] - new_max);
              if (rescale != 1.0f) {
                for (int i = 0; i < d; ++i) acc[i] *= rescale;
              }
              const float tile_sum = ExpShifted(visible, new_max, prob + (j0 - k0), j1 - j0);
              s.sum[qi] = s.sum[qi] * rescale + tile_sum;
              s.max[qi] = new_max;
            }
            if (!any_visible) continue;
            // acc += P V. Probabilities are zero outside each query's visible
            // keys, and adding zero terms changes no sum, so a tile cut short
            // (the newest keys) sums like a full one.
            if (!(bf16_dot && AttentionValuesBf16(s.probs.data(), kKeyTile, nq, value_rows, count,
                                                  d, s.pv.data()))) {
              AttentionValues(s.probs.data(), kKeyTile, nq, value_rows, row_type, count, d,
                              s.pv.data());
            }
            for (int qi = 0; qi < nq; ++qi) {
              AddScaled(1.0f, &s.pv[static_cast<size_t>(qi) * d],
                        &s.acc[static_cast<size_t>(qi) * d], d);
            }
          }

          for (int qi = 0; qi < nq; ++qi) {
            const int t = t0 + qi / group;
            const int h = kv_head * group + qi % group;
            const float* acc = &s.acc[static_cast<size_t>(qi) * d];
            if (splits == 1) {
              float* dst = out + static_cast<size_t>(t) * q_width + h * d;
              const float inv = 1.0f / s.sum[qi];
              for (int i = 0; i < d; ++i) dst[i] = acc[i] * inv;
            } else {
              float* p =
                  &partials_[((static_cast<size_t>(base_item) * splits + split) * queries_per_item +
                              qi) *
                             partial_stride];
              p[0] = s.max[qi];
              p[1] = s.sum[qi];
              std::memcpy(p + 2, acc, sizeof(float) * d);
            }
          }
        }
      });
  if (splits == 1) return;

  // Merge the splits: each holds a softmax over its keys relative to its own
  // maximum (an empty split has max -inf and contributes nothing).
  for (int base_item = 0; base_item < items_without_split; ++base_item) {
    const int kv_head = base_item % kv_heads;
    const int block = base_item / kv_heads;
    const int t0 = block * kQueryBlock;
    const int nq = (std::min(n, t0 + kQueryBlock) - t0) * group;
    for (int qi = 0; qi < nq; ++qi) {
      auto partial = [&](int split) {
        return &partials_[((static_cast<size_t>(base_item) * splits + split) * queries_per_item +
                           qi) *
                          partial_stride];
      };
      float max = -INFINITY;
      for (int split = 0; split < splits; ++split) max = std::max(max, partial(split)[0]);
      const int t = t0 + qi / group;
      const int h = kv_head * group + qi % group;
      float* dst = out + static_cast<size_t>(t) * q_width + h * d;
      std::fill(dst, dst + d, 0.0f);
      float sum = 0;
      for (int split = 0; split < splits; ++split) {
        const float* p = partial(split);
        if (p[1] == 0) continue;
        const float weight = std::exp(p[0] - max);
        sum += p[1] * weight;
        AddScaled(weight, p + 2, dst, d);
      }
      const float inv = 1.0f / sum;
      for (int i = 0; i < d; ++i) dst[i] *= inv;
    }
  }
}

}  // namespace gemma
