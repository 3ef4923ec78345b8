#include "model/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ops.h"
#include "threading/thread_pool.h"

namespace gemma {
namespace {

// Key positions query t (at `pos`) sees: [FirstKey, pos].
int FirstKey(int window, int pos) { return window > 0 ? std::max(0, pos - window + 1) : 0; }

int Group(const LayerSpec& l) { return l.num_attention_heads / l.num_key_value_heads; }

// Per query of a split: its running max, its sum, then its accumulator [d].
size_t PartialStride(const LayerSpec& l) { return static_cast<size_t>(l.head_dim) + 2; }

}  // namespace

// The online softmax of one item's queries over the keys of one split,
// written as partial sums (max, sum, acc) per query.
void TiledAttention::ComputeSplit(const LayerSpec& l, int layer, const float* queries,
                                  const AttentionSegment& seg, const Item& item, int split,
                                  const KvMemory& kv, TileBuffers& s, float* partial) const {
  const int d = l.head_dim;
  const int group = Group(l);
  const int window = l.attention == AttentionType::kSliding ? l.sliding_window : 0;
  const int nq = (item.t1 - item.t0) * group;
  const size_t stride = PartialStride(l);
  const bool bf16_dot = bf16_dot_ && kv.type() == DType::kBF16;
  for (int qi = 0; qi < nq; ++qi) {
    float* p = partial + static_cast<size_t>(qi) * stride;
    p[0] = -INFINITY;
    p[1] = 0;
    std::fill(p + 2, p + 2 + d, 0.0f);
  }
  // This split's share of the keys any query of the block sees, in tiles
  // aligned to absolute positions.
  const int lo =
      std::max(FirstKey(window, seg.start_pos + item.t0) / kKeyTile * kKeyTile, split * kSplitKeys);
  const int hi = std::min(seg.start_pos + item.t1, (split + 1) * kSplitKeys);  // exclusive
  // Keys before the first query's window are seen by no query of the item,
  // but the first tile starts at its block, before the window. Their rows are
  // never read: a zero row stands in (same tile and key pairs, so the same
  // bits as finite rows under probability zero). What the memory holds there
  // may be anything (another sequence's rows, or bytes never written, NaN
  // among them), and 0 * NaN would reach the output.
  const int first_seen = FirstKey(window, seg.start_pos + item.t0);
  const void* key_rows[kKeyTile];
  const void* value_rows[kKeyTile];
  for (int k0 = lo; k0 < hi; k0 += kKeyTile) {
    const int count = std::min(kKeyTile, hi - k0);
    const int unseen = std::clamp(first_seen - k0, 0, count);
    const int seen = count - unseen;
    DType row_type = kv.type();
    if (AttentionReadsDirectly(row_type)) {
      kv.KeyRows(*seg.seq, layer, item.kv_head, k0 + unseen, seen, key_rows + unseen);
      kv.ValueRows(*seg.seq, layer, item.kv_head, k0 + unseen, seen, value_rows + unseen);
    } else {
      // Block-quantized cache: widen the tile to f32 first.
      const size_t at = static_cast<size_t>(unseen) * d;
      kv.LoadKeys(*seg.seq, layer, item.kv_head, k0 + unseen, seen, s.keys.data() + at);
      kv.LoadValues(*seg.seq, layer, item.kv_head, k0 + unseen, seen, s.values.data() + at);
      for (int j = unseen; j < count; ++j) {
        key_rows[j] = &s.keys[static_cast<size_t>(j) * d];
        value_rows[j] = &s.values[static_cast<size_t>(j) * d];
      }
      row_type = DType::kF32;
    }
    for (int j = 0; j < unseen; ++j) key_rows[j] = value_rows[j] = s.zeros.data();
    if (!(bf16_dot &&
          AttentionScoresBf16(queries, nq, d, key_rows, count, s.scores.data(), kKeyTile))) {
      AttentionScores(queries, nq, d, key_rows, row_type, count, s.scores.data(), kKeyTile);
    }
    bool any_visible = false;
    for (int qi = 0; qi < nq; ++qi) {
      const int pos = seg.start_pos + item.t0 + qi / group;
      // Visible keys j: FirstKey(pos) <= j <= pos (causal + window).
      const int j0 = std::max(k0, FirstKey(window, pos));
      const int j1 = std::min(k0 + count, pos + 1);
      float* score = &s.scores[static_cast<size_t>(qi) * kKeyTile];
      float* prob = &s.probs[static_cast<size_t>(qi) * kKeyTile];
      std::fill(prob, prob + kKeyTile, 0.0f);
      if (j0 >= j1) continue;
      any_visible = true;
      float* visible = score + (j0 - k0);
      if (l.attn_logit_softcap > 0) SoftCap(l.attn_logit_softcap, visible, j1 - j0);
      const float tile_max = *std::max_element(visible, visible + (j1 - j0));
      // Online softmax: rescale what was accumulated to the new maximum.
      float* p = partial + static_cast<size_t>(qi) * stride;
      const float new_max = std::max(p[0], tile_max);
      const float rescale = std::exp(p[0] - new_max);
      if (rescale != 1.0f) {
        for (int i = 0; i < d; ++i) p[2 + i] *= rescale;
      }
      const float tile_sum = ExpShifted(visible, new_max, prob + (j0 - k0), j1 - j0);
      p[1] = p[1] * rescale + tile_sum;
      p[0] = new_max;
    }
    if (!any_visible) continue;
    // acc += P V. Probabilities are zero outside each query's visible keys,
    // and adding zero terms changes no sum, so a tile cut short (the newest
    // keys) sums like a full one.
    if (!(bf16_dot &&
          AttentionValuesBf16(s.probs.data(), kKeyTile, nq, value_rows, count, d, s.pv.data()))) {
      AttentionValues(s.probs.data(), kKeyTile, nq, value_rows, row_type, count, d, s.pv.data());
    }
    for (int qi = 0; qi < nq; ++qi) {
      AddScaled(1.0f, &s.pv[static_cast<size_t>(qi) * d],
                partial + static_cast<size_t>(qi) * stride + 2, d);
    }
  }
}

// Combines an item's splits, in split order, into its rows of `out`. Each
// split holds a softmax over its keys relative to its own maximum (a split a
// query sees nothing of has sum 0 and contributes nothing). With one split this
// is acc * (1 / sum), exactly.
void TiledAttention::Merge(const LayerSpec& l, const Item& item, const AttentionSegment& seg,
                           const float* partials, float* out) const {
  const int d = l.head_dim;
  const int group = Group(l);
  const int q_width = l.num_attention_heads * d;
  const int nq = (item.t1 - item.t0) * group;
  const size_t stride = PartialStride(l);
  const size_t split_stride = static_cast<size_t>(nq) * stride;
  for (int qi = 0; qi < nq; ++qi) {
    float max = -INFINITY;
    for (int split = 0; split < item.num_splits; ++split) {
      max = std::max(max, partials[split * split_stride + qi * stride]);
    }
    const int row = seg.first_row + item.t0 + qi / group;
    const int head = item.kv_head * group + qi % group;
    float* dst = out + static_cast<size_t>(row) * q_width + static_cast<size_t>(head) * d;
    std::fill(dst, dst + d, 0.0f);
    float sum = 0;
    for (int split = 0; split < item.num_splits; ++split) {
      const float* p = partials + split * split_stride + qi * stride;
      if (p[1] == 0) continue;
      const float weight = std::exp(p[0] - max);
      sum += p[1] * weight;
      AddScaled(weight, p + 2, dst, d);
    }
    const float inv = 1.0f / sum;
    for (int i = 0; i < d; ++i) dst[i] *= inv;
  }
}

void TiledAttention::Run(const LayerSpec& l, int layer, const float* q,
                         std::span<const AttentionSegment> segments, const KvMemory& kv,
                         ThreadPool& pool, float* out) {
  const int d = l.head_dim;
  const int group = Group(l);
  const int q_width = l.num_attention_heads * d;
  const int window = l.attention == AttentionType::kSliding ? l.sliding_window : 0;
  const size_t stride = PartialStride(l);

  // Items: (segment, block of up to kQueryBlock tokens, kv head), each with
  // the splits its keys span.
  std::vector<Item> items;
  int max_splits = 1;
  for (size_t si = 0; si < segments.size(); ++si) {
    const AttentionSegment& seg = segments[si];
    for (int t0 = 0; t0 < seg.count; t0 += kQueryBlock) {
      const int t1 = std::min(seg.count, t0 + kQueryBlock);
      const int first = FirstKey(window, seg.start_pos + t0) / kSplitKeys;
      const int last = (seg.start_pos + t1 - 1) / kSplitKeys;
      for (int h = 0; h < l.num_key_value_heads; ++h) {
        items.push_back({static_cast<int>(si), t0, t1, h, first, last - first + 1, 0});
      }
      max_splits = std::max(max_splits, last - first + 1);
    }
  }
  const size_t max_nq = static_cast<size_t>(kQueryBlock) * group;
  if (static_cast<int>(scratch_.size()) < pool.num_threads()) scratch_.resize(pool.num_threads());
  auto prepare = [&](TileBuffers& s, size_t partial_floats) {
    s.keys.resize(static_cast<size_t>(kKeyTile) * d);
    s.values.resize(static_cast<size_t>(kKeyTile) * d);
    s.scores.resize(max_nq * kKeyTile);
    s.probs.resize(max_nq * kKeyTile);
    s.pv.resize(max_nq * d);
    s.queries.resize(max_nq * d);
    if (s.partials.size() < partial_floats) s.partials.resize(partial_floats);
    if (s.zeros.size() < static_cast<size_t>(d)) s.zeros.resize(d);  // stays all zero
  };
  // The block's queries for one kv head, pre-scaled as the reference does
  // (q * scaling before q . k).
  auto load_queries = [&](const Item& item, float* dst) {
    const AttentionSegment& seg = segments[item.segment];
    for (int t = item.t0; t < item.t1; ++t) {
      for (int g = 0; g < group; ++g) {
        const float* src = q + static_cast<size_t>(seg.first_row + t) * q_width +
                           static_cast<size_t>(item.kv_head * group + g) * d;
        float* row = dst + static_cast<size_t>((t - item.t0) * group + g) * d;
        for (int i = 0; i < d; ++i) row[i] = src[i] * l.query_scale;
      }
    }
  };

  if (static_cast<int>(items.size()) >= pool.num_threads()) {
    // Enough items to keep every thread busy: each runs its splits one after
    // the other and merges them itself.
    pool.ParallelFor(items.size(), 1, [&](size_t begin, size_t end, int thread) {
      TileBuffers& s = scratch_[thread];
      prepare(s, static_cast<size_t>(max_splits) * max_nq * stride);
      for (size_t i = begin; i < end; ++i) {
        const Item& item = items[i];
        load_queries(item, s.queries.data());
        const size_t split_stride = static_cast<size_t>(item.t1 - item.t0) * group * stride;
        for (int k = 0; k < item.num_splits; ++k) {
          ComputeSplit(l, layer, s.queries.data(), segments[item.segment], item,
                       item.first_split + k, kv, s, s.partials.data() + k * split_stride);
        }
        Merge(l, item, segments[item.segment], s.partials.data(), out);
      }
    });
    return;
  }

  // Few items (decode): spread the splits over the threads, merge after.
  std::vector<std::pair<int, int>> work;  // (item, split)
  size_t total = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    items[i].partials = total;
    total +=
        static_cast<size_t>(items[i].num_splits) * (items[i].t1 - items[i].t0) * group * stride;
    for (int k = 0; k < items[i].num_splits; ++k) work.emplace_back(static_cast<int>(i), k);
  }
  if (partials_.size() < total) partials_.resize(total);
  pool.ParallelFor(work.size(), 1, [&](size_t begin, size_t end, int thread) {
    TileBuffers& s = scratch_[thread];
    prepare(s, 0);
    for (size_t w = begin; w < end; ++w) {
      const Item& item = items[work[w].first];
      const int k = work[w].second;
      const size_t split_stride = static_cast<size_t>(item.t1 - item.t0) * group * stride;
      load_queries(item, s.queries.data());
      ComputeSplit(l, layer, s.queries.data(), segments[item.segment], item, item.first_split + k,
                   kv, s, partials_.data() + item.partials + k * split_stride);
    }
  });
  pool.ParallelFor(items.size(), 1, [&](size_t begin, size_t end, int) {
    for (size_t i = begin; i < end; ++i) {
      Merge(l, items[i], segments[items[i].segment], partials_.data() + items[i].partials, out);
    }
  });
}

}  // namespace gemma
