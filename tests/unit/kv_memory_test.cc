// The paged KV memory: element types, what sliding layers keep, block sharing
// by prefix, copy before write, eviction of cached blocks, a full memory, and
// layers that share another layer's K/V.
#include "memory/kv_memory.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "base/error.h"

namespace gemma {
namespace {

KvMemory::Config Config(int context, int batch, int sequences = 1, int64_t total = 0,
                        DType type = DType::kF32, bool prefix_cache = false) {
  KvMemory::Config c;
  c.type = type;
  c.max_sequences = sequences;
  c.context_length = context;
  c.max_batch = batch;
  c.total_tokens = total;
  c.prefix_cache = prefix_cache;
  return c;
}

std::vector<int32_t> Tokens(int n, int seed) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = (i * 7 + seed * 13) % 1000;
  return t;
}

// Appends tokens, storing for every layer and position a row whose values
// encode (position, token), so that reads can be checked.
void Append(KvMemory& kv, SequenceKv& seq, std::span<const int32_t> tokens) {
  ASSERT_TRUE(kv.Reserve(seq, seq.size() + static_cast<int>(tokens.size())));
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int pos = seq.size() + static_cast<int>(i);
    for (int layer = 0; layer < kv.num_layers(); ++layer) {
      if (kv.Storage(layer) != layer) continue;
      const KvLayerShape& s = kv.shape(layer);
      std::vector<float> k(s.kv_heads * s.head_dim, static_cast<float>(tokens[i])),
          v(k.size(), static_cast<float>(pos + 1000 * layer));
      kv.Store(seq, layer, pos, k.data(), v.data());
    }
  }
  kv.Commit(seq, tokens);
}

float KeyAt(const KvMemory& kv, const SequenceKv& seq, int layer, int pos) {
  float k[64];
  kv.LoadKeys(seq, layer, 0, pos, 1, k);
  return k[0];
}

float ValueAt(const KvMemory& kv, const SequenceKv& seq, int layer, int pos) {
  float v[64];
  kv.LoadValues(seq, layer, 0, pos, 1, v);
  return v[0];
}

// Each KV type keeps values within its rounding error.
TEST(KvMemory, ElementTypesRoundTrip) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> row(64), back(64);
  for (float& v : row) v = normal(rng);
  // Relative to the row's max |x|: bf16 2^-9, f16 2^-11, q8_0 1/254, q4_0 1/14 (half a step).
  const std::pair<DType, double> bounds[] = {{DType::kF32, 0},
                                             {DType::kBF16, 1.0 / 256},
                                             {DType::kF16, 1.0 / 1024},
                                             {DType::kQ8_0, 1.0 / 200},
                                             {DType::kQ4_0, 1.0 / 7}};
  double max_abs = 0;
  for (float v : row) max_abs = std::max(max_abs, double(std::fabs(v)));
  for (const auto& [type, bound] : bounds) {
    KvMemory kv({{1, 64, 0, -1}}, Config(8, 1, 1, 0, type));
    SequenceKv seq;
    ASSERT_TRUE(kv.Reserve(seq, 4));
    kv.Store(seq, 0, 3, row.data(), row.data());
    kv.LoadKeys(seq, 0, 0, 3, 1, back.data());
    double worst = 0;
    for (int i = 0; i < 64; ++i) worst = std::max(worst, std::fabs(double(back[i]) - row[i]));
    EXPECT_LE(worst, bound * max_abs) << Name(type);
    if (type != DType::kF32) {
      EXPECT_GT(worst, 0.0) << Name(type) << " should round";
    }
  }
}

TEST(KvMemory, RejectsTypesThatDoNotFitTheHead) {
  EXPECT_THROW(KvMemory({{1, 48, 0, -1}}, Config(8, 1, 1, 0, DType::kQ8_0)), Error);
  EXPECT_THROW(ParseKvType("q5_k"), Error);
  EXPECT_EQ(ParseKvType("q4_0"), DType::kQ4_0);
  EXPECT_EQ(ParseKvType("BF16"), DType::kBF16);
}

// Gemma 3's shape: 5 sliding layers (window 512) and 1 global at 32K context.
// The global layer holds every position; the sliding ones only the blocks
// that a step at the window's end can touch: (512 + 256 - 2) / 64 + 2 = 13.
TEST(KvMemory, SlidingLayersKeepOnlyTheirWindow) {
  std::vector<KvLayerShape> layers(5, {1, 256, 512, -1});
  layers.push_back({1, 256, 0, -1});
  const size_t row = 256 * 2;                     // one kv head of bf16
  const size_t block = 2 * kKvBlockTokens * row;  // K and V of one layer
  const size_t expected = block * (32768 / 64 + 1) + 5 * block * 13;
  EXPECT_EQ(KvMemory::BytesNeeded(layers, Config(32768, 256, 1, 0, DType::kBF16)), expected);
  // With the prefix cache, the sliding pool is doubled.
  EXPECT_EQ(KvMemory::BytesNeeded(layers, Config(32768, 256, 1, 0, DType::kBF16, true)),
            expected + 5 * block * 13);
}

TEST(KvMemory, SlidingBlocksAreReleasedBehindTheWindow) {
  KvMemory kv({{1, 64, 100, -1}, {1, 64, 0, -1}}, Config(1024, 32));
  SequenceKv seq;
  for (int i = 0; i < 20; ++i) Append(kv, seq, Tokens(32, i));  // 640 positions
  // A query at 640 needs keys from 541: block 8 (512..575) on.
  EXPECT_EQ(kv.FirstHeld(seq, 0), 512);
  EXPECT_EQ(kv.FirstHeld(seq, 1), 0);  // the global layer keeps everything
  EXPECT_EQ(KeyAt(kv, seq, 0, 600), static_cast<float>(seq.tokens()[600]));
  EXPECT_EQ(ValueAt(kv, seq, 1, 3), 3.0f + 1000);
  // Cutting back inside the window works; far behind it, the keys are gone.
  EXPECT_TRUE(kv.CanTruncateTo(seq, 620));
  EXPECT_FALSE(kv.CanTruncateTo(seq, 300));
  EXPECT_FALSE(kv.TruncateTo(seq, 300));
  EXPECT_EQ(seq.size(), 640);
  EXPECT_TRUE(kv.TruncateTo(seq, 620));
  EXPECT_EQ(seq.size(), 620);
}

// A sequence restored from outside (a saved session) takes only the blocks
// its window holds, HeldFrom on, however long it is; its full blocks are
// indexed for prefix hits only where it holds them, so a later sequence never
// finds a sliding block whose rows were never written.
TEST(KvMemory, RestoredSequenceHoldsOnlyItsWindow) {
  // One sequence, window 100, batch 32: 4 sliding blocks (8 with the prefix cache).
  KvMemory kv({{1, 64, 100, -1}, {1, 64, 0, -1}}, Config(1024, 32, 1, 0, DType::kF32, true));
  const std::vector<int32_t> tokens = Tokens(640, 3);
  EXPECT_EQ(kv.HeldFrom(0, 640), 512);  // the window (541..639) begins in block 8
  EXPECT_EQ(kv.HeldFrom(1, 640), 0);
  SequenceKv seq;
  ASSERT_TRUE(kv.ReserveRestored(seq, 640));
  for (int pos = 0; pos < 640; ++pos) {
    for (int layer = 0; layer < 2; ++layer) {
      if (pos < kv.HeldFrom(layer, 640)) continue;
      std::vector<float> k(64, static_cast<float>(tokens[pos])), v(64, static_cast<float>(pos));
      kv.Store(seq, layer, pos, k.data(), v.data());
    }
  }
  kv.Commit(seq, tokens);
  EXPECT_EQ(seq.size(), 640);
  EXPECT_EQ(kv.FirstHeld(seq, 0), 512);
  EXPECT_EQ(kv.used_blocks(KvMemory::kSlidingPool), 2);
  EXPECT_EQ(KeyAt(kv, seq, 0, 600), static_cast<float>(tokens[600]));
  // Cut back before what it holds: the older sliding blocks are not found.
  EXPECT_FALSE(kv.CanTruncateTo(seq, 300));
  kv.Release(seq);
  SequenceKv other;
  std::vector<int32_t> longer(tokens.begin(), tokens.begin() + 320);
  longer.push_back(1);
  EXPECT_EQ(kv.AttachPrefix(other, longer), 0);  // blocks 3 and 4 were never written
}

// A second sequence that begins with the first one's tokens takes its whole
// blocks (one token is always left to compute) and reads the same rows.
TEST(KvMemory, PrefixBlocksAreShared) {
  KvMemory kv({{1, 64, 0, -1}}, Config(512, 64, 2));
  SequenceKv a, b;
  const std::vector<int32_t> prompt = Tokens(200, 1);
  Append(kv, a, prompt);
  const int used = kv.used_blocks(KvMemory::kGlobalPool);
  std::vector<int32_t> other(prompt.begin(), prompt.begin() + 150);
  other.push_back(999);
  EXPECT_EQ(kv.AttachPrefix(b, other), 128);
  EXPECT_EQ(b.size(), 128);
  EXPECT_EQ(kv.used_blocks(KvMemory::kGlobalPool), used);  // nothing new allocated
  EXPECT_EQ(KeyAt(kv, b, 0, 100), static_cast<float>(prompt[100]));
  // The whole prompt again: all but the last token, in whole blocks (192).
  SequenceKv c;
  EXPECT_EQ(kv.AttachPrefix(c, prompt), 192);
  // A different first token: nothing.
  SequenceKv d;
  std::vector<int32_t> changed = prompt;
  changed[0] += 1;
  EXPECT_EQ(kv.AttachPrefix(d, changed), 0);
  EXPECT_EQ(kv.prefix_hit_tokens(), 128 + 192);
  kv.Release(b);
  kv.Release(c);
  kv.Release(d);
  kv.Release(a);
  EXPECT_EQ(kv.used_blocks(KvMemory::kGlobalPool), 0);
}

// Writing into a block that another sequence shares copies it first.
TEST(KvMemory, SharedBlockIsCopiedBeforeWrite) {
  KvMemory kv({{1, 64, 0, -1}}, Config(512, 64, 2));
  SequenceKv a, b;
  const std::vector<int32_t> prompt = Tokens(150, 2);
  Append(kv, a, prompt);
  ASSERT_EQ(kv.AttachPrefix(b, prompt), 128);
  ASSERT_TRUE(kv.TruncateTo(b, 100));  // inside the shared block 64..127
  Append(kv, b, std::vector<int32_t>(5, 777));
  EXPECT_EQ(KeyAt(kv, b, 0, 100), 777.0f);
  EXPECT_EQ(KeyAt(kv, a, 0, 100), static_cast<float>(prompt[100]));  // untouched
  EXPECT_EQ(KeyAt(kv, b, 0, 99), static_cast<float>(prompt[99]));    // copied
  // The copy is b's own: a third sequence still finds a's block.
  SequenceKv c;
  EXPECT_EQ(kv.AttachPrefix(c, prompt), 128);
  EXPECT_EQ(KeyAt(kv, c, 0, 100), static_cast<float>(prompt[100]));
}

// Released blocks stay cached until the memory is needed, oldest first.
TEST(KvMemory, CachedBlocksAreEvictedWhenNeeded) {
  // 4 blocks of 64 in all (total 192 + one spare per sequence).
  KvMemory kv({{1, 64, 0, -1}}, Config(256, 64, 1, 192));
  ASSERT_EQ(kv.pool_blocks(KvMemory::kGlobalPool), 4);
  SequenceKv a;
  const std::vector<int32_t> first = Tokens(129, 3);
  Append(kv, a, first);  // blocks 0, 1 full (cached on release), block 2 partial
  kv.Release(a);
  EXPECT_EQ(kv.free_blocks(KvMemory::kGlobalPool), 4);
  SequenceKv b;
  EXPECT_EQ(kv.AttachPrefix(b, first), 128);
  kv.Release(b);
  // Another sequence needing all 4 blocks evicts the cached ones.
  SequenceKv c;
  Append(kv, c, Tokens(256, 4));
  EXPECT_EQ(kv.free_blocks(KvMemory::kGlobalPool), 0);
  SequenceKv d;
  EXPECT_FALSE(kv.Reserve(d, 1));  // full
  kv.Release(c);
  EXPECT_EQ(kv.AttachPrefix(d, first), 0);  // evicted
}

// Sliding layers' blocks that the window left are found again by a prefix hit
// (with the prefix cache): the case where other engines re-process everything.
TEST(KvMemory, PrefixHitReachesSlidingLayers) {
  std::vector<KvLayerShape> layers = {{1, 64, 32, -1}, {1, 64, 0, -1}};
  KvMemory kv(layers, Config(1024, 64, 2, 0, DType::kF32, true));
  SequenceKv a;
  const std::vector<int32_t> prompt = Tokens(400, 5);
  for (int i = 0; i < 400; i += 64) {
    Append(kv, a, std::span<const int32_t>(prompt).subspan(i, std::min(64, 400 - i)));
  }
  EXPECT_GT(kv.FirstHeld(a, 0), 256);  // the window left the early blocks
  kv.Release(a);
  SequenceKv b;
  std::vector<int32_t> longer = prompt;
  longer.push_back(1);
  EXPECT_EQ(kv.AttachPrefix(b, longer), 384);
  EXPECT_EQ(KeyAt(kv, b, 0, 383), static_cast<float>(prompt[383]));
  EXPECT_EQ(KeyAt(kv, b, 0, 360), static_cast<float>(prompt[360]));
  EXPECT_EQ(KeyAt(kv, b, 1, 5), static_cast<float>(prompt[5]));
}

// A layer that shares an earlier layer's K/V reads its rows and stores none.
TEST(KvMemory, SharedLayersReadTheirSource) {
  KvMemory kv({{1, 64, 0, -1}, {1, 64, 16, -1}, {1, 64, 0, 0}, {1, 64, 16, 1}}, Config(256, 64));
  EXPECT_EQ(kv.Storage(2), 0);
  EXPECT_EQ(kv.Storage(3), 1);
  SequenceKv seq;
  Append(kv, seq, Tokens(70, 6));
  const void* a[1];
  const void* b[1];
  kv.KeyRows(seq, 0, 0, 65, 1, a);
  kv.KeyRows(seq, 2, 0, 65, 1, b);
  EXPECT_EQ(a[0], b[0]);
  kv.ValueRows(seq, 1, 0, 69, 1, a);
  kv.ValueRows(seq, 3, 0, 69, 1, b);
  EXPECT_EQ(a[0], b[0]);
  // Sharing across different head shapes is refused.
  EXPECT_THROW(KvMemory({{1, 64, 0, -1}, {2, 64, 0, 0}}, Config(64, 8)), Error);
}

TEST(KvMemory, FullMemoryIsReportedNotOverrun) {
  KvMemory kv({{1, 64, 0, -1}}, Config(128, 64, 1, 64));  // 2 blocks
  SequenceKv a, b;
  EXPECT_TRUE(kv.Reserve(a, 128));
  EXPECT_FALSE(kv.Reserve(b, 1));
  EXPECT_EQ(b.size(), 0);
  kv.Release(a);
  EXPECT_TRUE(kv.Reserve(b, 1));
}

}  // namespace
}  // namespace gemma
