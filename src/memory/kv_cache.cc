#include "memory/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "base/error.h"
#include "kernels/ops.h"
#include "quant/quant.h"

namespace gemma {

bool KvTypeSupported(DType type) {
  return type == DType::kF32 || type == DType::kBF16 || type == DType::kF16 ||
         type == DType::kQ8_0 || type == DType::kQ4_0;
}

DType ParseKvType(const std::string& name) {
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16, DType::kQ8_0, DType::kQ4_0}) {
    if (name == Name(t)) return t;
  }
  Fail("unknown KV cache type '", name, "' (choose f32, bf16, f16, q8_0 or q4_0)");
}

namespace {

// Slots a layer keeps: the whole context, or for a sliding-window layer the
// window plus the keys one chunk appends beyond it.
int LayerCapacity(const KvLayerShape& l, int context_length, int max_chunk) {
  if (l.window == 0) return context_length;
  return std::min(context_length, l.window + max_chunk - 1);
}

void CheckType(const std::vector<KvLayerShape>& layers, DType type) {
  if (!KvTypeSupported(type)) Fail("KV cache type ", Name(type), " is not supported");
  for (const KvLayerShape& l : layers) {
    if (l.head_dim % Info(type).block_elems != 0) {
      Fail("KV cache type ", Name(type), " needs head_dim to be a multiple of ",
           Info(type).block_elems, " (the model has ", l.head_dim, ")");
    }
  }
}

}  // namespace

size_t KvCache::BytesNeeded(const std::vector<KvLayerShape>& layers, int context_length,
                            int max_chunk, DType type) {
  CheckType(layers, type);
  size_t bytes = 0;
  for (const KvLayerShape& l : layers) {
    bytes += 2 * static_cast<size_t>(LayerCapacity(l, context_length, max_chunk)) * l.kv_heads *
             BytesFor(type, l.head_dim);
  }
  return bytes;
}

KvCache::KvCache(const std::vector<KvLayerShape>& layers, int context_length, int max_chunk,
                 DType type)
    : context_length_(context_length), type_(type) {
  CheckType(layers, type);
  for (const KvLayerShape& l : layers) {
    LayerStore store;
    store.kv_heads = l.kv_heads;
    store.head_dim = l.head_dim;
    store.head_bytes = BytesFor(type, l.head_dim);
    store.capacity = LayerCapacity(l, context_length, max_chunk);
    store.window = l.window;
    store.bytes = static_cast<size_t>(store.capacity) * store.kv_heads * store.head_bytes;
    layers_.push_back(store);
  }
  const size_t total = BytesUsed();
  arena_ = AllocateHugeBuffer(total);
  if (arena_ == nullptr) Fail("out of memory for a KV cache of ", total, " bytes");
  uint8_t* next = arena_.get();
  for (LayerStore& l : layers_) {
    l.keys = next;
    l.values = next + l.bytes;
    next += 2 * l.bytes;
  }
}

bool KvCache::CanTruncateTo(int n) const {
  for (const LayerStore& l : layers_) {
    // Oldest position the ring still holds, against the oldest one that
    // position n will look at.
    const int oldest_held = written_end_ - l.capacity;
    if (oldest_held > std::max(0, n - l.window)) return false;
  }
  return true;
}

void KvCache::Store(int layer, int pos, const float* key, const float* value) {
  written_end_ = std::max(written_end_, pos + 1);
  LayerStore& l = layers_[layer];
  const size_t row_bytes = l.kv_heads * l.head_bytes;
  uint8_t* k = l.keys + static_cast<size_t>(pos % l.capacity) * row_bytes;
  uint8_t* v = l.values + static_cast<size_t>(pos % l.capacity) * row_bytes;
  for (int h = 0; h < l.kv_heads; ++h) {
    QuantizeRowRef(type_, key + h * l.head_dim, k + h * l.head_bytes, l.head_dim);
    QuantizeRowRef(type_, value + h * l.head_dim, v + h * l.head_bytes, l.head_dim);
  }
}

void KvCache::Load(const uint8_t* store, const LayerStore& l, int kv_head, int begin, int count,
                   float* out) const {
  // One kv head across positions is a strided matrix: its "rows" are the
  // slots, row_bytes apart. Contiguous runs of slots are widened at once.
  const size_t row_bytes = l.kv_heads * l.head_bytes;
  WeightMatrix rows;
  rows.type = type_;
  rows.cols = l.head_dim;
  rows.row_bytes = row_bytes;
  int done = 0;
  while (done < count) {
    const int slot = (begin + done) % l.capacity;
    const int run = std::min(count - done, l.capacity - slot);
    rows.data = store + static_cast<size_t>(slot) * row_bytes + kv_head * l.head_bytes;
    rows.rows = run;
    for (int r = 0; r < run; ++r)
      DequantizeRow(rows, r, out + static_cast<size_t>(done + r) * l.head_dim);
    done += run;
  }
}

void KvCache::LoadKeys(int layer, int kv_head, int begin, int count, float* out) const {
  Load(layers_[layer].keys, layers_[layer], kv_head, begin, count, out);
}

void KvCache::LoadValues(int layer, int kv_head, int begin, int count, float* out) const {
  Load(layers_[layer].values, layers_[layer], kv_head, begin, count, out);
}

void KvCache::Rows(const uint8_t* store, const LayerStore& l, int kv_head, int begin, int count,
                   const void** out) const {
  const size_t row_bytes = l.kv_heads * l.head_bytes;
  const uint8_t* head = store + kv_head * l.head_bytes;
  for (int r = 0; r < count; ++r) {
    out[r] = head + static_cast<size_t>((begin + r) % l.capacity) * row_bytes;
  }
}

void KvCache::KeyRows(int layer, int kv_head, int begin, int count, const void** out) const {
  Rows(layers_[layer].keys, layers_[layer], kv_head, begin, count, out);
}

void KvCache::ValueRows(int layer, int kv_head, int begin, int count, const void** out) const {
  Rows(layers_[layer].values, layers_[layer], kv_head, begin, count, out);
}

size_t KvCache::BytesUsed() const {
  size_t bytes = 0;
  for (const LayerStore& l : layers_) bytes += 2 * l.bytes;
  return bytes;
}

}  // namespace gemma
