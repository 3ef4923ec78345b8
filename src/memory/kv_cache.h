// Per-sequence key/value cache, stored per layer in the layer's own shape:
// a global layer keeps every position of the context; a sliding-window layer
// keeps only a ring of window + chunk - 1 slots (enough for a prefill chunk
// whose first query still sees `window` keys back), so at long context the
// cache is mostly the few global layers. Keys are stored after QK-norm and
// RoPE, in f32, bf16, f16, q8_0 or q4_0 (per head, so each head's row is whole
// blocks). See docs/kv-cache.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/mapped_file.h"

namespace gemma {

// What the cache needs to know of one layer (the model layer derives it from
// its LayerSpec).
struct KvLayerShape {
  int kv_heads = 0;
  int head_dim = 0;
  int window = 0;  // sliding window; 0: a global layer, which keeps every position
};

// Cache element types users can pick (--kv-type).
bool KvTypeSupported(DType type);
// "f32", "bf16", ... -> DType; throws gemma::Error for anything else.
DType ParseKvType(const std::string& name);

class KvCache {
 public:
  // max_chunk: the most tokens one forward step appends at once.
  KvCache(const std::vector<KvLayerShape>& layers, int context_length, int max_chunk,
          DType type = DType::kBF16);

  int context_length() const { return context_length_; }
  DType type() const { return type_; }
  // Tokens currently held (the next position to write).
  int size() const { return size_; }
  // Positions [0, size) count as held; raising it also marks them written
  // (a restored session writes its rows directly).
  void set_size(int size) {
    size_ = size;
    written_end_ = std::max(written_end_, size);
  }
  void Clear() { size_ = written_end_ = 0; }
  // Whether every layer still holds what positions >= n will attend to, so
  // that the cache can be cut back to n. False once a sliding layer's ring
  // has overwritten keys inside the window before n (positions written past
  // n wrap around onto them).
  bool CanTruncateTo(int n) const;

  // Stores rows of kv_heads * head_dim floats for absolute position `pos`.
  void Store(int layer, int pos, const float* key, const float* value);
  // Widens `count` consecutive positions from `begin` of one kv head to f32
  // rows [count, head_dim]. Positions must still be held (not overwritten in
  // a sliding layer's ring).
  void LoadKeys(int layer, int kv_head, int begin, int count, float* out) const;
  void LoadValues(int layer, int kv_head, int begin, int count, float* out) const;
  // Where the rows of `count` consecutive positions from `begin` of one kv
  // head lie (head_dim elements of type() each), for kernels that read the
  // cache in place. Same holding rule as LoadKeys.
  void KeyRows(int layer, int kv_head, int begin, int count, const void** out) const;
  void ValueRows(int layer, int kv_head, int begin, int count, const void** out) const;

  // Bytes a cache of these dimensions takes, without allocating it. Throws
  // gemma::Error if `type` cannot store the model's heads.
  static size_t BytesNeeded(const std::vector<KvLayerShape>& layers, int context_length,
                            int max_chunk, DType type);

  // Positions a layer can hold at once (context_length for global layers).
  int capacity(int layer) const { return layers_[layer].capacity; }
  size_t BytesUsed() const;

  // Raw rows (all kv heads of one position), for saving and restoring sessions.
  int num_layers() const { return static_cast<int>(layers_.size()); }
  size_t row_bytes(int layer) const { return layers_[layer].kv_heads * layers_[layer].head_bytes; }
  uint8_t* KeyRow(int layer, int pos) { return SlotRow(layers_[layer].keys, layer, pos); }
  uint8_t* ValueRow(int layer, int pos) { return SlotRow(layers_[layer].values, layer, pos); }
  const uint8_t* KeyRow(int layer, int pos) const {
    return const_cast<KvCache*>(this)->KeyRow(layer, pos);
  }
  const uint8_t* ValueRow(int layer, int pos) const {
    return const_cast<KvCache*>(this)->ValueRow(layer, pos);
  }

 private:
  struct LayerStore {
    int capacity = 0;  // slots; position p lives in slot p % capacity
    int window = 0;    // sliding window (0: global layer)
    int kv_heads = 0;
    int head_dim = 0;
    size_t head_bytes = 0;  // one head's row in `type_`
    size_t bytes = 0;       // of keys, and of values
    uint8_t* keys = nullptr;
    uint8_t* values = nullptr;
  };
  uint8_t* SlotRow(uint8_t* store, int layer, int pos) {
    return store + static_cast<size_t>(pos % layers_[layer].capacity) * row_bytes(layer);
  }
  void Load(const uint8_t* store, const LayerStore& l, int kv_head, int begin, int count,
            float* out) const;
  void Rows(const uint8_t* store, const LayerStore& l, int kv_head, int begin, int count,
            const void** out) const;

  int context_length_;
  DType type_;
  int size_ = 0;
  int written_end_ = 0;  // one past the highest position ever stored since Clear
  std::vector<LayerStore> layers_;
  // Every layer's rows in one block of huge pages: a decode step at 32K reads
  // 134 MB of it, and 4 KiB pages would stop the hardware prefetcher every 8
  // rows. Pages are touched (and count in RSS) only as positions are written.
  HugeBuffer arena_;
};

}  // namespace gemma
