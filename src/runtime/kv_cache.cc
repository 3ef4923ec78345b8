#include "runtime/kv_cache.h"

#include <algorithm>

namespace gemma {

KvCache::KvCache(const ModelSpec& spec, int context_length, int max_chunk)
    : context_length_(context_length) {
  for (const LayerSpec& l : spec.layers) {
    LayerStore store;
    store.row = l.num_key_value_heads * l.head_dim;
    store.capacity = context_length;
    if (l.attention == AttentionType::kSliding) {
      store.capacity = std::min(context_length, l.sliding_window + max_chunk - 1);
    }
    store.keys.resize(static_cast<size_t>(store.capacity) * store.row);
    store.values.resize(static_cast<size_t>(store.capacity) * store.row);
    layers_.push_back(std::move(store));
  }
}

const float* KvCache::Key(int layer, int pos) const {
  const LayerStore& l = layers_[layer];
  return l.keys.data() + static_cast<size_t>(pos % l.capacity) * l.row;
}

const float* KvCache::Value(int layer, int pos) const {
  const LayerStore& l = layers_[layer];
  return l.values.data() + static_cast<size_t>(pos % l.capacity) * l.row;
}

size_t KvCache::BytesUsed() const {
  size_t bytes = 0;
  for (const LayerStore& l : layers_) bytes += (l.keys.size() + l.values.size()) * sizeof(float);
  return bytes;
}

}  // namespace gemma
