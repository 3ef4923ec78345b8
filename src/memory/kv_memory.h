// The keys and values of every sequence a model serves, in one arena of
// fixed-size blocks (paged, as vLLM's PagedAttention): a sequence holds a table
// of blocks, each block kKvBlockTokens positions of K and V for a group of
// layers. Two pools share the arena:
//
//   - global layers: a sequence keeps a block for every 64 positions it holds;
//   - sliding-window layers: a sequence keeps only the blocks its window still
//     covers (about window + batch positions), so at long context the memory is
//     mostly the few global layers (docs/kv-cache.md).
//
// Blocks are reference counted and, once full, indexed by a hash of the token
// prefix they hold: a new sequence whose tokens begin like an earlier one's
// takes those blocks instead of computing them again (the prefix cache).
// Released blocks that are indexed stay valid until the memory is needed
// (least recently released first), which is what lets a prefix hit reach the
// sliding-window layers too: their out-of-window blocks wait in that cache.
//
// A layer may have no storage of its own and read another layer's (Gemma 3n/4
// share K/V between layers): KvLayerShape::source_layer. A recurrent state
// (RecurrentGemma) would sit in SequenceKv beside the block tables.
//
// Not thread-safe: one thread (the one running the forward pass) uses it.
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/dtype.h"
#include "base/mapped_file.h"

namespace gemma {

// Positions per block: the attention's key tile, so that a tile of keys is one
// contiguous run of rows.
inline constexpr int kKvBlockTokens = 64;

// What the memory needs to know of one layer (the model layer derives it from
// its LayerSpec).
struct KvLayerShape {
  int kv_heads = 0;
  int head_dim = 0;
  int window = 0;         // sliding window; 0: a global layer, which keeps every position
  int source_layer = -1;  // >= 0: reads that (earlier) layer's K/V and stores none
};

// Cache element types users can pick (--kv-type).
bool KvTypeSupported(DType type);
// "f32", "bf16", ... (either case) -> DType; throws gemma::Error for anything else.
DType ParseKvType(const std::string& name);

class KvMemory;

// One sequence's share of the memory: the tokens whose keys and values it
// holds, and its block tables. Made empty; filled through KvMemory.
class SequenceKv {
 public:
  SequenceKv() = default;
  SequenceKv(const SequenceKv&) = delete;
  SequenceKv& operator=(const SequenceKv&) = delete;
  SequenceKv(SequenceKv&&) noexcept = default;
  SequenceKv& operator=(SequenceKv&&) noexcept = default;

  // Positions [0, size) are held; tokens()[p] is the token at position p.
  int size() const { return static_cast<int>(tokens_.size()); }
  const std::vector<int32_t>& tokens() const { return tokens_; }

 private:
  friend class KvMemory;
  std::vector<int32_t> tokens_;
  // Per pool, the block holding positions [64 b, 64 b + 64), or -1 (never
  // allocated, or released because the window moved past it).
  std::array<std::vector<int32_t>, 2> blocks_;
  // hashes_[b]: the prefix hash of tokens [0, 64 (b + 1)), for each full block.
  std::vector<uint64_t> hashes_;
};

class KvMemory {
 public:
  struct Config {
    DType type = DType::kBF16;
    int max_sequences = 1;   // sequences that run at the same time
    int context_length = 0;  // the most positions one sequence holds
    int max_batch = 256;     // the most positions one forward step appends to a sequence
    // Positions of the global layers for all sequences together; 0: every
    // sequence can reach context_length at once (context_length * max_sequences).
    int64_t total_tokens = 0;
    // Keep as many sliding-window blocks again as the sequences need, so
    // that blocks their windows have left stay cached for prefix hits (a
    // server wants this; a single conversation does not).
    bool prefix_cache = false;
  };

  // Throws gemma::Error if `type` cannot store the layers' heads, or
  // (kResourceExhausted) if the arena cannot be allocated.
  KvMemory(std::vector<KvLayerShape> layers, const Config& config);
  // The arena's size for these settings, without allocating it.
  static size_t BytesNeeded(const std::vector<KvLayerShape>& layers, const Config& config);

  DType type() const { return config_.type; }
  const Config& config() const { return config_; }
  int num_layers() const { return static_cast<int>(layers_.size()); }
  const KvLayerShape& shape(int layer) const { return layers_[layer].shape; }
  size_t arena_bytes() const { return arena_bytes_; }

  // --- Sequences ---------------------------------------------------------

  // Attaches the cached blocks of the longest prefix of `tokens` (whole blocks,
  // at most tokens.size() - 1 positions, so that one token is left to run) to
  // an empty sequence. Returns the positions reused.
  int AttachPrefix(SequenceKv& seq, std::span<const int32_t> tokens);
  // Makes room for positions [seq.size(), end): allocates blocks, and copies
  // a shared block before it is written. False (and nothing changed) when the
  // memory is full.
  bool Reserve(SequenceKv& seq, int end);
  // Makes room in an empty sequence for n positions whose rows come from
  // outside (a saved session) instead of a forward pass: only the blocks a
  // sequence of n positions holds, from HeldFrom(n) on. A sliding layer's
  // older blocks, which no saved session brings, are left out: reserving them
  // would need more blocks than a sequence may hold at once (window + batch),
  // and Commit would index them for prefix hits with rows never written.
  // False (nothing changed) when the memory is full.
  bool ReserveRestored(SequenceKv& seq, int n);
  // Records that `tokens` now fill positions [seq.size(), seq.size() + n)
  // (their rows were stored after Reserve); indexes the blocks that became
  // full and releases sliding blocks the window has left.
  void Commit(SequenceKv& seq, std::span<const int32_t> tokens);
  // Whether the sequence can be cut back to n positions with every key that
  // positions >= n will attend to still held (or found again in the cache).
  bool CanTruncateTo(const SequenceKv& seq, int n) const;
  // Cuts back to n positions; false (nothing changed) if !CanTruncateTo(n).
  bool TruncateTo(SequenceKv& seq, int n);
  // Gives every block back (cached blocks stay reusable by a later prefix).
  void Release(SequenceKv& seq);

  // Free blocks per pool (including cached ones that could be evicted), and
  // the blocks a sequence would need to grow from `size` to `end`.
  int free_blocks(int pool) const;
  int BlocksToGrow(int size, int end, int pool) const;
  static constexpr int kGlobalPool = 0, kSlidingPool = 1;
  int pool_blocks(int pool) const { return pools_[pool].num_blocks; }
  // Blocks currently used by sequences (not free, not merely cached).
  int used_blocks(int pool) const;

  // --- Rows, for the forward pass ---------------------------------------

  // Stores rows of kv_heads * head_dim floats for `pos` (reserved, < end).
  void Store(const SequenceKv& seq, int layer, int pos, const float* key, const float* value);
  // Where the rows of `count` consecutive positions from `begin` of one kv head
  // lie (head_dim elements of type() each), for kernels that read in place.
  // The positions must be held.
  void KeyRows(const SequenceKv& seq, int layer, int kv_head, int begin, int count,
               const void** out) const;
  void ValueRows(const SequenceKv& seq, int layer, int kv_head, int begin, int count,
                 const void** out) const;
  // The same rows widened to f32 [count, head_dim].
  void LoadKeys(const SequenceKv& seq, int layer, int kv_head, int begin, int count,
                float* out) const;
  void LoadValues(const SequenceKv& seq, int layer, int kv_head, int begin, int count,
                  float* out) const;
  // All kv heads of one position (row_bytes(layer)), for saving and restoring.
  size_t row_bytes(int layer) const { return layers_[Storage(layer)].row_bytes; }
  uint8_t* KeyRow(const SequenceKv& seq, int layer, int pos);
  uint8_t* ValueRow(const SequenceKv& seq, int layer, int pos);
  // The first position a layer still holds for `seq` (0, or later for a
  // sliding layer whose window has moved on).
  int FirstHeld(const SequenceKv& seq, int layer) const;
  // The first position a layer holds once a sequence has n positions: 0 for
  // a global layer; for a sliding one, the start of the block the window
  // begins in (the rows before the window in that block are held too, and
  // Truncate relies on them).
  int HeldFrom(int layer, int n) const;
  // The layer whose rows `layer` reads (itself unless it shares K/V).
  int Storage(int layer) const { return layers_[layer].storage; }

  // --- Prefix-cache statistics ------------------------------------------
  int64_t prefix_queries() const { return prefix_queries_; }
  int64_t prefix_hit_tokens() const { return prefix_hit_tokens_; }

 private:
  struct Layer {
    KvLayerShape shape;
    int storage = 0;  // the layer whose rows this one uses
    int pool = 0;
    size_t head_bytes = 0, row_bytes = 0;       // one head, all heads of one position
    size_t keys_offset = 0, values_offset = 0;  // in a block of its pool
  };
  struct Block {
    int refs = 0;
    uint64_t hash = 0;                 // nonzero: indexed under this prefix hash
    std::list<int32_t>::iterator lru;  // in the pool's cached list when refs == 0 && hash
  };
  struct Pool {
    int num_blocks = 0;
    size_t block_bytes = 0;
    uint8_t* base = nullptr;
    std::vector<Block> blocks;
    std::vector<int32_t> free;                    // unindexed, unused (lowest id last)
    std::list<int32_t> cached;                    // indexed, unused; oldest first
    std::unordered_map<uint64_t, int32_t> index;  // prefix hash -> block
    bool used = false;                            // some layer stores here
  };

  int32_t Allocate(int pool);  // -1 when full
  void AddRef(int pool, int32_t block);
  void Unref(int pool, int32_t block);
  void Unindex(int pool, int32_t block);
  int32_t FindCached(int pool, uint64_t hash) const;
  // The first block index a pool must hold for queries at positions >= n.
  int FirstBlockNeeded(int pool, int n) const;
  uint8_t* Row(const SequenceKv& seq, const Layer& l, size_t offset, int pos) const;
  void Rows(const SequenceKv& seq, int layer, size_t Layer::*offset, int kv_head, int begin,
            int count, const void** out) const;
  void Load(const SequenceKv& seq, int layer, size_t Layer::*offset, int kv_head, int begin,
            int count, float* out) const;
  static constexpr uint64_t kHashSeed = 0x9e3779b97f4a7c15ull;
  static uint64_t BlockHash(uint64_t parent, const int32_t* tokens);
  static std::vector<uint64_t> PrefixHashes(std::span<const int32_t> tokens, int blocks);

  std::vector<Layer> layers_;
  Config config_;
  int max_window_ = 0;  // of the sliding layers
  std::array<Pool, 2> pools_;
  HugeBuffer arena_;
  size_t arena_bytes_ = 0;
  int64_t prefix_queries_ = 0, prefix_hit_tokens_ = 0;
};

}  // namespace gemma
