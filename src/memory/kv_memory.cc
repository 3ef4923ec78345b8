#include "memory/kv_memory.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "base/error.h"
#include "base/system.h"
#include "kernels/ops.h"
#include "quant/quant.h"

namespace gemma {

bool KvTypeSupported(DType type) {
  return type == DType::kF32 || type == DType::kBF16 || type == DType::kF16 ||
         type == DType::kQ8_0 || type == DType::kQ4_0;
}

DType ParseKvType(const std::string& name) {
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16, DType::kQ8_0, DType::kQ4_0}) {
    if (lower == Name(t)) return t;
  }
  Fail("unknown KV cache type '", name, "' (choose f32, bf16, f16, q8_0 or q4_0)");
}

namespace {

int CeilDiv(int64_t a, int64_t b) { return static_cast<int>((a + b - 1) / b); }

uint64_t Mix64(uint64_t x) {  // splitmix64's finalizer
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Where each layer's rows go in a block of its pool, and how many blocks each
// pool has: shared by the constructor and BytesNeeded.
struct Layout {
  struct Placement {
    int storage, pool;
    size_t head_bytes, row_bytes, keys_offset, values_offset;
  };
  std::vector<Placement> layers;
  std::array<size_t, 2> block_bytes{};
  std::array<int, 2> blocks{};
  int max_window = 0;

  Layout(const std::vector<KvLayerShape>& shapes, const KvMemory::Config& c) {
    if (!KvTypeSupported(c.type)) Fail("KV cache type ", Name(c.type), " is not supported");
    if (c.max_sequences < 1 || c.context_length < 1 || c.max_batch < 1) {
      Fail("KV memory: sequences, context length and batch must be positive");
    }
    const int block_elems = Info(c.type).block_elems;
    for (size_t i = 0; i < shapes.size(); ++i) {
      const KvLayerShape& s = shapes[i];
      Placement p{};
      if (s.source_layer >= 0) {
        if (s.source_layer >= static_cast<int>(i)) {
          Fail("layer ", i, " reads the K/V of layer ", s.source_layer, ", which is not before it");
        }
        const Placement& src = layers[s.source_layer];
        const KvLayerShape& src_shape = shapes[src.storage];
        if (src_shape.kv_heads != s.kv_heads || src_shape.head_dim != s.head_dim) {
          Fail("layer ", i, " shares the K/V of layer ", s.source_layer, " but its heads differ");
        }
        p = src;
        layers.push_back(p);
        continue;
      }
      if (s.head_dim % block_elems != 0) {
        Fail("KV cache type ", Name(c.type), " needs head_dim to be a multiple of ", block_elems,
             " (the model has ", s.head_dim, ")");
      }
      p.storage = static_cast<int>(i);
      p.pool = s.window > 0 ? KvMemory::kSlidingPool : KvMemory::kGlobalPool;
      p.head_bytes = BytesFor(c.type, s.head_dim);
      p.row_bytes = p.head_bytes * s.kv_heads;
      p.keys_offset = block_bytes[p.pool];
      p.values_offset = p.keys_offset + kKvBlockTokens * p.row_bytes;
      block_bytes[p.pool] = p.values_offset + kKvBlockTokens * p.row_bytes;
      if (s.window > 0) max_window = std::max(max_window, s.window);
      layers.push_back(p);
    }
    for (size_t& b : block_bytes) b = (b + 63) / 64 * 64;
    const int64_t total = c.total_tokens > 0
                              ? c.total_tokens
                              : static_cast<int64_t>(c.context_length) * c.max_sequences;
    const int per_sequence_max = CeilDiv(c.context_length, kKvBlockTokens);
    if (block_bytes[KvMemory::kGlobalPool] > 0) {
      blocks[KvMemory::kGlobalPool] = CeilDiv(total, kKvBlockTokens) + c.max_sequences;
    }
    if (block_bytes[KvMemory::kSlidingPool] > 0) {
      // A step appending up to max_batch positions at s holds the blocks from
      // the window's start (s - window + 1) to s + max_batch - 1. With the
      // prefix cache, twice that, so that blocks a window has left stay cached
      // for a while (prefix hits on the sliding layers need them).
      const int active =
          std::min((max_window + c.max_batch - 2) / kKvBlockTokens + 2, per_sequence_max + 1);
      blocks[KvMemory::kSlidingPool] = (c.prefix_cache ? 2 : 1) * active * c.max_sequences;
    }
  }

  size_t bytes() const {
    return block_bytes[0] * static_cast<size_t>(blocks[0]) +
           block_bytes[1] * static_cast<size_t>(blocks[1]);
  }
};

}  // namespace

size_t KvMemory::BytesNeeded(const std::vector<KvLayerShape>& layers, const Config& config) {
  return Layout(layers, config).bytes();
}

KvMemory::KvMemory(std::vector<KvLayerShape> layers, const Config& config) : config_(config) {
  const Layout layout(layers, config);
  max_window_ = layout.max_window;
  arena_bytes_ = layout.bytes();
  const size_t physical = PhysicalMemoryBytes();
  if (physical > 0 && arena_bytes_ > physical) {
    FailWith(StatusCode::kResourceExhausted, "the KV cache needs ", arena_bytes_ >> 20,
             " MiB but this machine has ", physical >> 20,
             " MiB of memory: lower --ctx (or --parallel, or choose a smaller --kv-type)");
  }
  arena_ = AllocateHugeBuffer(std::max<size_t>(arena_bytes_, 1));
  if (arena_ == nullptr) {
    FailWith(StatusCode::kResourceExhausted, "out of memory for a KV cache of ", arena_bytes_ >> 20,
             " MiB: lower --ctx (or --parallel, or choose a smaller --kv-type)");
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layout::Placement& p = layout.layers[i];
    Layer l;
    l.shape = layers[i];
    l.storage = p.storage;
    l.pool = p.pool;
    l.head_bytes = p.head_bytes;
    l.row_bytes = p.row_bytes;
    l.keys_offset = p.keys_offset;
    l.values_offset = p.values_offset;
    layers_.push_back(l);
    pools_[p.pool].used = true;
  }
  uint8_t* next = arena_.get();
  for (int p = 0; p < 2; ++p) {
    Pool& pool = pools_[p];
    pool.num_blocks = layout.blocks[p];
    pool.block_bytes = layout.block_bytes[p];
    pool.base = next;
    next += pool.block_bytes * static_cast<size_t>(pool.num_blocks);
    pool.blocks.resize(pool.num_blocks);
    // Handed out lowest first, so memory is touched from the arena's start.
    for (int b = pool.num_blocks - 1; b >= 0; --b) pool.free.push_back(b);
  }
}

// --- Blocks ------------------------------------------------------------

int32_t KvMemory::Allocate(int p) {
  Pool& pool = pools_[p];
  int32_t id = -1;
  if (!pool.free.empty()) {
    id = pool.free.back();
    pool.free.pop_back();
  } else if (!pool.cached.empty()) {
    id = pool.cached.front();  // the least recently released
    Unindex(p, id);            // moves it to `free`
    pool.free.pop_back();
  } else {
    return -1;
  }
  pool.blocks[id].refs = 1;
  return id;
}

void KvMemory::AddRef(int p, int32_t id) {
  Block& b = pools_[p].blocks[id];
  if (b.refs == 0 && b.hash != 0) pools_[p].cached.erase(b.lru);
  ++b.refs;
}

void KvMemory::Unref(int p, int32_t id) {
  Pool& pool = pools_[p];
  Block& b = pool.blocks[id];
  if (--b.refs > 0) return;
  if (b.hash != 0) {
    pool.cached.push_back(id);
    b.lru = std::prev(pool.cached.end());
  } else {
    pool.free.push_back(id);
  }
}

void KvMemory::Unindex(int p, int32_t id) {
  Pool& pool = pools_[p];
  Block& b = pool.blocks[id];
  if (b.hash == 0) return;
  auto it = pool.index.find(b.hash);
  if (it != pool.index.end() && it->second == id) pool.index.erase(it);
  b.hash = 0;
  if (b.refs == 0) {
    pool.cached.erase(b.lru);
    pool.free.push_back(id);
  }
}

int32_t KvMemory::FindCached(int p, uint64_t hash) const {
  const auto it = pools_[p].index.find(hash);
  return it == pools_[p].index.end() ? -1 : it->second;
}

int KvMemory::free_blocks(int p) const {
  return static_cast<int>(pools_[p].free.size() + pools_[p].cached.size());
}

int KvMemory::used_blocks(int p) const { return pools_[p].num_blocks - free_blocks(p); }

int KvMemory::FirstBlockNeeded(int p, int n) const {
  if (p == kGlobalPool) return 0;
  return std::max(0, n - max_window_ + 1) / kKvBlockTokens;
}

int KvMemory::BlocksToGrow(int size, int end, int p) const {
  if (!pools_[p].used || end <= size) return 0;
  return (end - 1) / kKvBlockTokens - CeilDiv(size, kKvBlockTokens) + 1;
}

// Block b's prefix hash covers tokens [0, 64 (b + 1)), chained through the
// previous block's (`parent`, or a seed for block 0).
uint64_t KvMemory::BlockHash(uint64_t parent, const int32_t* tokens) {
  uint64_t h = parent;
  for (int i = 0; i < kKvBlockTokens; ++i) {
    h = Mix64(h ^
              (static_cast<uint64_t>(static_cast<uint32_t>(tokens[i])) + 0x632be59bd9b4e019ull));
  }
  return h | 1;  // never 0, which means "not indexed"
}

std::vector<uint64_t> KvMemory::PrefixHashes(std::span<const int32_t> tokens, int blocks) {
  std::vector<uint64_t> hashes;
  uint64_t parent = kHashSeed;
  for (int b = 0; b < blocks; ++b) {
    parent = BlockHash(parent, tokens.data() + static_cast<size_t>(b) * kKvBlockTokens);
    hashes.push_back(parent);
  }
  return hashes;
}

// --- Sequences -----------------------------------------------------------

int KvMemory::AttachPrefix(SequenceKv& seq, std::span<const int32_t> tokens) {
  if (seq.size() != 0 || tokens.empty()) return 0;
  ++prefix_queries_;
  const int max_blocks = static_cast<int>((tokens.size() - 1) / kKvBlockTokens);
  const std::vector<uint64_t> hashes = PrefixHashes(tokens, max_blocks);
  int k = max_blocks;
  if (pools_[kGlobalPool].used) {
    int found = 0;
    while (found < k && FindCached(kGlobalPool, hashes[found]) >= 0) ++found;
    k = found;
  }
  if (pools_[kSlidingPool].used) {
    for (; k > 0; --k) {
      bool all = true;
      for (int b = FirstBlockNeeded(kSlidingPool, k * kKvBlockTokens); b < k && all; ++b) {
        all = FindCached(kSlidingPool, hashes[b]) >= 0;
      }
      if (all) break;
    }
  }
  if (k == 0) return 0;
  for (int p = 0; p < 2; ++p) {
    if (!pools_[p].used) continue;
    seq.blocks_[p].assign(k, -1);
    for (int b = FirstBlockNeeded(p, k * kKvBlockTokens); b < k; ++b) {
      const int32_t id = FindCached(p, hashes[b]);
      AddRef(p, id);
      seq.blocks_[p][b] = id;
    }
  }
  const size_t n = static_cast<size_t>(k) * kKvBlockTokens;
  seq.tokens_.assign(tokens.begin(), tokens.begin() + n);
  seq.hashes_.assign(hashes.begin(), hashes.begin() + k);
  prefix_hit_tokens_ += static_cast<int64_t>(n);
  return static_cast<int>(n);
}

bool KvMemory::Reserve(SequenceKv& seq, int end) {
  const int size = seq.size();
  if (end <= size) return true;
  // Blocks to allocate per pool: the new ones, plus a copy of the partly
  // filled block at `size` if another sequence shares it.
  std::array<int, 2> needed{};
  const int first_written = size / kKvBlockTokens;
  for (int p = 0; p < 2; ++p) {
    if (!pools_[p].used) continue;
    needed[p] = BlocksToGrow(size, end, p);
    if (size % kKvBlockTokens != 0) {
      const int32_t id = seq.blocks_[p][first_written];
      if (pools_[p].blocks[id].refs > 1) ++needed[p];
    }
    if (needed[p] > free_blocks(p)) return false;
  }
  for (int p = 0; p < 2; ++p) {
    if (!pools_[p].used) continue;
    Pool& pool = pools_[p];
    if (size % kKvBlockTokens != 0) {
      int32_t& id = seq.blocks_[p][first_written];
      if (pool.blocks[id].refs > 1) {  // copy before writing
        const int32_t copy = Allocate(p);
        std::memcpy(pool.base + pool.block_bytes * copy, pool.base + pool.block_bytes * id,
                    pool.block_bytes);
        Unref(p, id);
        id = copy;
      } else {
        Unindex(p, id);  // its contents are about to change
      }
    }
    while (static_cast<int>(seq.blocks_[p].size()) <= (end - 1) / kKvBlockTokens) {
      seq.blocks_[p].push_back(Allocate(p));
    }
  }
  return true;
}

bool KvMemory::ReserveRestored(SequenceKv& seq, int n) {
  if (seq.size() != 0 || !seq.blocks_[0].empty() || !seq.blocks_[1].empty()) {
    Fail("KV memory: a restored sequence must start empty");
  }
  const int blocks = CeilDiv(n, kKvBlockTokens);
  std::array<int, 2> first{};
  for (int p = 0; p < 2; ++p) {
    if (!pools_[p].used) continue;
    first[p] = std::min(FirstBlockNeeded(p, n), blocks);
    if (blocks - first[p] > free_blocks(p)) return false;
  }
  for (int p = 0; p < 2; ++p) {
    if (!pools_[p].used) continue;
    seq.blocks_[p].assign(first[p], -1);
    while (static_cast<int>(seq.blocks_[p].size()) < blocks) seq.blocks_[p].push_back(Allocate(p));
  }
  return true;
}

void KvMemory::Commit(SequenceKv& seq, std::span<const int32_t> tokens) {
  seq.tokens_.insert(seq.tokens_.end(), tokens.begin(), tokens.end());
  const int end = seq.size();
  const int full = end / kKvBlockTokens;
  for (int b = static_cast<int>(seq.hashes_.size()); b < full; ++b) {
    const uint64_t parent = b == 0 ? kHashSeed : seq.hashes_[b - 1];
    const uint64_t hash =
        BlockHash(parent, seq.tokens_.data() + static_cast<size_t>(b) * kKvBlockTokens);
    seq.hashes_.push_back(hash);
    for (int p = 0; p < 2; ++p) {
      if (!pools_[p].used) continue;
      const int32_t id = seq.blocks_[p][b];
      if (id < 0 || pools_[p].blocks[id].hash != 0) continue;
      if (pools_[p].index.emplace(hash, id).second) pools_[p].blocks[id].hash = hash;
    }
  }
  if (pools_[kSlidingPool].used) {
    const int first = FirstBlockNeeded(kSlidingPool, end);
    std::vector<int32_t>& blocks = seq.blocks_[kSlidingPool];
    for (int b = 0; b < first && b < static_cast<int>(blocks.size()); ++b) {
      if (blocks[b] >= 0) {
        Unref(kSlidingPool, blocks[b]);
        blocks[b] = -1;
      }
    }
  }
}

bool KvMemory::CanTruncateTo(const SequenceKv& seq, int n) const {
  if (n < 0 || n > seq.size()) return false;
  if (!pools_[kSlidingPool].used) return true;
  const std::vector<int32_t>& blocks = seq.blocks_[kSlidingPool];
  for (int b = FirstBlockNeeded(kSlidingPool, n); b < CeilDiv(n, kKvBlockTokens); ++b) {
    if (blocks[b] >= 0) continue;
    if (b >= static_cast<int>(seq.hashes_.size()) || FindCached(kSlidingPool, seq.hashes_[b]) < 0) {
      return false;
    }
  }
  return true;
}

bool KvMemory::TruncateTo(SequenceKv& seq, int n) {
  if (!CanTruncateTo(seq, n)) return false;
  const int keep = CeilDiv(n, kKvBlockTokens);
  for (int p = 0; p < 2; ++p) {
    if (!pools_[p].used) continue;
    std::vector<int32_t>& blocks = seq.blocks_[p];
    while (static_cast<int>(blocks.size()) > keep) {
      if (blocks.back() >= 0) Unref(p, blocks.back());
      blocks.pop_back();
    }
    for (int b = FirstBlockNeeded(p, n); b < keep; ++b) {
      if (blocks[b] >= 0) continue;
      blocks[b] = FindCached(p, seq.hashes_[b]);  // found: CanTruncateTo checked it
      AddRef(p, blocks[b]);
    }
  }
  seq.tokens_.resize(n);
  seq.hashes_.resize(n / kKvBlockTokens);
  return true;
}

void KvMemory::Release(SequenceKv& seq) {
  for (int p = 0; p < 2; ++p) {
    for (int32_t id : seq.blocks_[p]) {
      if (id >= 0) Unref(p, id);
    }
    seq.blocks_[p].clear();
  }
  seq.tokens_.clear();
  seq.hashes_.clear();
}

// --- Rows ----------------------------------------------------------------

uint8_t* KvMemory::Row(const SequenceKv& seq, const Layer& l, size_t offset, int pos) const {
  const Pool& pool = pools_[l.pool];
  const int32_t block = seq.blocks_[l.pool][pos / kKvBlockTokens];
  return pool.base + pool.block_bytes * static_cast<size_t>(block) + offset +
         static_cast<size_t>(pos % kKvBlockTokens) * l.row_bytes;
}

void KvMemory::Store(const SequenceKv& seq, int layer, int pos, const float* key,
                     const float* value) {
  const Layer& l = layers_[layer];
  uint8_t* k = Row(seq, l, l.keys_offset, pos);
  uint8_t* v = Row(seq, l, l.values_offset, pos);
  const int d = l.shape.head_dim;
  for (int h = 0; h < l.shape.kv_heads; ++h) {
    QuantizeRowRef(config_.type, key + h * d, k + h * l.head_bytes, d);
    QuantizeRowRef(config_.type, value + h * d, v + h * l.head_bytes, d);
  }
}

void KvMemory::Rows(const SequenceKv& seq, int layer, size_t Layer::*offset, int kv_head, int begin,
                    int count, const void** out) const {
  const Layer& l = layers_[layers_[layer].storage];
  const size_t head = static_cast<size_t>(kv_head) * l.head_bytes;
  int done = 0;
  while (done < count) {  // one block's run of rows at a time
    const int pos = begin + done;
    const int run = std::min(count - done, kKvBlockTokens - pos % kKvBlockTokens);
    const uint8_t* row = Row(seq, l, l.*offset, pos) + head;
    for (int r = 0; r < run; ++r) out[done + r] = row + static_cast<size_t>(r) * l.row_bytes;
    done += run;
  }
}

void KvMemory::KeyRows(const SequenceKv& seq, int layer, int kv_head, int begin, int count,
                       const void** out) const {
  Rows(seq, layer, &Layer::keys_offset, kv_head, begin, count, out);
}

void KvMemory::ValueRows(const SequenceKv& seq, int layer, int kv_head, int begin, int count,
                         const void** out) const {
  Rows(seq, layer, &Layer::values_offset, kv_head, begin, count, out);
}

void KvMemory::Load(const SequenceKv& seq, int layer, size_t Layer::*offset, int kv_head, int begin,
                    int count, float* out) const {
  const Layer& l = layers_[layers_[layer].storage];
  const void* rows[kKvBlockTokens];
  WeightMatrix row;
  row.type = config_.type;
  row.cols = l.shape.head_dim;
  row.rows = 1;
  row.row_bytes = l.head_bytes;
  for (int done = 0; done < count; done += kKvBlockTokens) {
    const int run = std::min(count - done, kKvBlockTokens);
    Rows(seq, layer, offset, kv_head, begin + done, run, rows);
    for (int r = 0; r < run; ++r) {
      row.data = rows[r];
      DequantizeRow(row, 0, out + static_cast<size_t>(done + r) * l.shape.head_dim);
    }
  }
}

void KvMemory::LoadKeys(const SequenceKv& seq, int layer, int kv_head, int begin, int count,
                        float* out) const {
  Load(seq, layer, &Layer::keys_offset, kv_head, begin, count, out);
}

void KvMemory::LoadValues(const SequenceKv& seq, int layer, int kv_head, int begin, int count,
                          float* out) const {
  Load(seq, layer, &Layer::values_offset, kv_head, begin, count, out);
}

uint8_t* KvMemory::KeyRow(const SequenceKv& seq, int layer, int pos) {
  const Layer& l = layers_[layers_[layer].storage];
  return Row(seq, l, l.keys_offset, pos);
}

uint8_t* KvMemory::ValueRow(const SequenceKv& seq, int layer, int pos) {
  const Layer& l = layers_[layers_[layer].storage];
  return Row(seq, l, l.values_offset, pos);
}

int KvMemory::FirstHeld(const SequenceKv& seq, int layer) const {
  const int p = layers_[layers_[layer].storage].pool;
  const std::vector<int32_t>& blocks = seq.blocks_[p];
  for (size_t b = 0; b < blocks.size(); ++b) {
    if (blocks[b] >= 0) return static_cast<int>(b) * kKvBlockTokens;
  }
  return seq.size();
}

int KvMemory::HeldFrom(int layer, int n) const {
  return FirstBlockNeeded(layers_[Storage(layer)].pool, n) * kKvBlockTokens;
}

}  // namespace gemma
