// Tiled ("flash") attention over the KV memory: keys and values are read in
// tiles and combined with an online softmax, so no [queries x keys] score
// matrix exists and scratch memory does not grow with the context. Soft-cap and
// the sliding-window mask are applied inside the tiles. One call serves every
// sequence of a batch: each segment of rows attends over its own sequence's
// keys.
//
// Batch invariance: a query's result depends on its position and its keys
// only, never on which other rows share the call, how many threads run it, or
// how the prompt was chunked. Key tiles are aligned to absolute positions, and
// the keys are split at fixed absolute boundaries (kSplitKeys) whose partial
// softmax sums are always merged in the same order; whether the splits of one
// query run on one thread or several changes nothing in the arithmetic.
#pragma once

#include <span>
#include <vector>

#include "memory/kv_memory.h"
#include "model/spec.h"
#include "threading/thread_pool.h"

namespace gemma {

// Rows [first_row, first_row + count) of the batch are the tokens of `seq` at
// positions start_pos, start_pos + 1, ...; their keys are already stored.
struct AttentionSegment {
  const SequenceKv* seq = nullptr;
  int first_row = 0;
  int count = 0;
  int start_pos = 0;
};

class TiledAttention {
 public:
  // bf16_dot: with a bf16 cache, take the AVX512_BF16 kernels where the CPU
  // has them (queries and probabilities rounded to bf16; not under --exact).
  explicit TiledAttention(bool bf16_dot = false) : bf16_dot_(bf16_dot) {}

  static constexpr int kKeyTile = kKvBlockTokens;  // keys per online-softmax step
  // Tokens sharing each K/V tile: 16 beat 8 by 11% and 32 by 5% on an 8K prompt.
  static constexpr int kQueryBlock = 16;
  // Keys per split (8 tiles): a decode step at depth D has D / 512 independent
  // pieces of work per kv head, and the merge costs one head-sized
  // multiply-add per split and query.
  static constexpr int kSplitKeys = 512;

  // q: [rows, n_h * d] after QK-norm and RoPE (not yet scaled). out: [rows, n_h * d].
  void Run(const LayerSpec& layer_spec, int layer, const float* q,
           std::span<const AttentionSegment> segments, const KvMemory& kv, ThreadPool& pool,
           float* out);

 private:
  // One (segment, query block, kv head): its queries and the splits their keys span.
  struct Item {
    int segment, t0, t1, kv_head;
    int first_split, num_splits;
    size_t partials;  // offset of its splits' partial sums (spread mode)
  };
  struct TileBuffers {
    std::vector<float> keys, values, scores, probs, pv, queries, partials;
    std::vector<float> zeros;  // a row of any KV element type, all zero (d floats)
  };
  void ComputeSplit(const LayerSpec& l, int layer, const float* q, const AttentionSegment& seg,
                    const Item& item, int split, const KvMemory& kv, TileBuffers& s,
                    float* partial) const;
  void Merge(const LayerSpec& l, const Item& item, const AttentionSegment& seg,
             const float* partials, float* out) const;

  std::vector<TileBuffers> scratch_;
  std::vector<float> partials_;  // spread mode: every split's partial sums, merged after
  bool bf16_dot_;
};

}  // namespace gemma
