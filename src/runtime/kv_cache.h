// Per-sequence key/value cache. Each layer has its own capacity: a global layer
// keeps every position of the context, a sliding-window layer only a ring of
// window + chunk - 1 slots (enough for a prefill chunk whose first query still
// sees `window` keys back). Keys are stored after QK-norm and RoPE.
#pragma once

#include <cstdint>
#include <vector>

#include "model/spec.h"

namespace gemma {

class KvCache {
 public:
  // max_chunk: the most tokens one Forward call appends at once.
  KvCache(const ModelSpec& spec, int context_length, int max_chunk);

  int context_length() const { return context_length_; }
  // Tokens currently held (the next position to write).
  int size() const { return size_; }
  void set_size(int size) { size_ = size; }
  void Clear() { size_ = 0; }

  // Row of kv_heads * head_dim floats for absolute position `pos` in `layer`.
  float* Key(int layer, int pos) { return Row(layers_[layer].keys, layer, pos); }
  float* Value(int layer, int pos) { return Row(layers_[layer].values, layer, pos); }
  const float* Key(int layer, int pos) const;
  const float* Value(int layer, int pos) const;

  size_t BytesUsed() const;

 private:
  struct LayerStore {
    int capacity = 0;  // slots; position p lives in slot p % capacity
    int row = 0;       // floats per position
    std::vector<float> keys, values;
  };
  float* Row(std::vector<float>& store, int layer, int pos) {
    const LayerStore& l = layers_[layer];
    return store.data() + static_cast<size_t>(pos % l.capacity) * l.row;
  }

  int context_length_;
  int size_ = 0;
  std::vector<LayerStore> layers_;
};

}  // namespace gemma
