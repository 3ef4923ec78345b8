// The Gemma transformer: embed -> layers -> final norm -> logits, driven by a
// ModelSpec. One class for Gemma 1, 2 and 3; the differences are LayerSpec data.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/attention.h"
#include "model/spec.h"
#include "model/weights.h"

namespace gemma {

class KvCache;
class ThreadPool;

class Transformer {
 public:
  // max_chunk: the most tokens one internal step processes; longer inputs are
  // split into chunks of this size (the KV cache must be made for it).
  // exact: f32 arithmetic in attention too (see TiledAttention).
  Transformer(const ModelSpec& spec, const ModelWeights& weights, int max_chunk,
              bool exact = false);

  // Runs `tokens` at positions cache.size() .. cache.size() + n - 1, appending
  // their keys/values to `cache`. Writes logits for every token ([n, vocab])
  // when all_logits, else for the last token only ([vocab]). The caller checks
  // that the cache has room and that ids are < vocab_size.
  void Forward(std::span<const int32_t> tokens, KvCache& cache, ThreadPool& pool, float* logits,
               bool all_logits);

  // Debugging aid (as the golden files' hidden states): when set, Forward
  // appends the residual stream [n, hidden] after the embedding, after every
  // layer, and after the final norm. Single-chunk inputs only.
  void set_trace(std::vector<float>* trace) { trace_ = trace; }

  const ModelSpec& spec() const { return spec_; }

 private:
  void ForwardChunk(std::span<const int32_t> tokens, KvCache& cache, ThreadPool& pool,
                    float* logits, bool all_logits);
  void Attention(int layer, int n, int start_pos, KvCache& cache, ThreadPool& pool);
  void FeedForward(int layer, int n, ThreadPool& pool);

  const ModelSpec& spec_;
  int max_chunk_;
  const ModelWeights& weights_;
  std::vector<float>* trace_ = nullptr;

  // Scratch for one chunk, allocated once (row-major [token, width]).
  std::vector<float> x_;                           // residual stream [n, H]
  std::vector<float> normed_;                      // [n, H]
  std::vector<float> q_, k_, v_;                   // [n, n_h*d_h], [n, n_kv*d_h] x2
  std::vector<float> attn_out_;                    // [n, n_h*d_h]
  std::vector<float> proj_;                        // [n, H]
  std::vector<float> gate_, up_;                   // [n, F]
  std::vector<std::vector<float>> rope_inv_freq_;  // per layer [d_h/2]
  TiledAttention attention_;
};

}  // namespace gemma
