// Tiled attention over the KV memory against a direct two-pass computation:
// window edges, blocks released behind the window, GQA grouping, soft-cap,
// split keys, every KV element type; and batch invariance: a query's bits do
// not depend on the other rows of its call, the thread count or the chunking.
#include "model/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "base/error.h"
#include "memory/kv_memory.h"
#include "threading/thread_pool.h"

namespace gemma {
namespace {

ModelSpec OneLayer(int window, float softcap, int heads = 4, int kv_heads = 2, int head_dim = 32) {
  ModelSpec spec;
  spec.vocab_size = 16;
  spec.hidden_size = 64;
  spec.context_length = 4096;
  LayerSpec l;
  l.attention = window > 0 ? AttentionType::kSliding : AttentionType::kGlobal;
  l.sliding_window = window;
  l.num_attention_heads = heads;
  l.num_key_value_heads = kv_heads;
  l.head_dim = head_dim;
  l.intermediate_size = 64;
  l.query_scale = 0.2f;
  l.attn_logit_softcap = softcap;
  spec.layers.push_back(l);
  return spec;
}

// softmax over visible keys j (i - W < j <= i), in double.
std::vector<float> Reference(const LayerSpec& l, const std::vector<float>& q, int n, int start,
                             const std::vector<float>& keys, const std::vector<float>& values) {
  const int d = l.head_dim, heads = l.num_attention_heads, kv = l.num_key_value_heads;
  const int group = heads / kv;
  std::vector<float> out(static_cast<size_t>(n) * heads * d);
  for (int t = 0; t < n; ++t) {
    const int pos = start + t;
    const int first = l.sliding_window > 0 ? std::max(0, pos - l.sliding_window + 1) : 0;
    for (int h = 0; h < heads; ++h) {
      const int g = h / group;
      std::vector<double> s;
      for (int j = first; j <= pos; ++j) {
        double dot = 0;
        for (int i = 0; i < d; ++i) {
          dot += static_cast<double>(q[(t * heads + h) * d + i]) * l.query_scale *
                 keys[(static_cast<size_t>(j) * kv + g) * d + i];
        }
        if (l.attn_logit_softcap > 0)
          dot = l.attn_logit_softcap * std::tanh(dot / l.attn_logit_softcap);
        s.push_back(dot);
      }
      const double max = *std::max_element(s.begin(), s.end());
      double sum = 0;
      for (double& v : s) sum += (v = std::exp(v - max));
      for (int i = 0; i < d; ++i) {
        double acc = 0;
        for (int j = first; j <= pos; ++j)
          acc += s[j - first] / sum * values[(static_cast<size_t>(j) * kv + g) * d + i];
        out[(static_cast<size_t>(t) * heads + h) * d + i] = static_cast<float>(acc);
      }
    }
  }
  return out;
}

struct Case {
  int window;
  int chunk;
  int threads;
  float softcap;
  DType kv_type;
  int head_dim = 32;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << "window " << c.window << " chunk " << c.chunk << " threads " << c.threads << " softcap "
      << c.softcap << " kv " << Name(c.kv_type) << " head_dim " << c.head_dim;
}

class AttentionTest : public ::testing::TestWithParam<Case> {};

KvMemory::Config MemoryFor(DType type, int context, int chunk, int sequences = 1) {
  KvMemory::Config config;
  config.type = type;
  config.max_sequences = sequences;
  config.context_length = context;
  config.max_batch = chunk;
  return config;
}

// Fills `seq` with random keys/values for positions [seq.size(), end) in
// chunks, returning what the memory holds after rounding (the reference uses
// those, so that tests isolate the attention arithmetic).
void Fill(KvMemory& kv, SequenceKv& seq, int end, int chunk, std::mt19937& rng,
          std::vector<float>& stored_keys, std::vector<float>& stored_values) {
  const KvLayerShape& s = kv.shape(0);
  const int kv_width = s.kv_heads * s.head_dim;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  stored_keys.resize(static_cast<size_t>(end) * kv_width);
  stored_values.resize(stored_keys.size());
  std::vector<float> k(kv_width), v(kv_width);
  while (seq.size() < end) {
    const int start = seq.size();
    const int n = std::min(chunk, end - start);
    ASSERT_TRUE(kv.Reserve(seq, start + n));
    for (int pos = start; pos < start + n; ++pos) {
      for (float& x : k) x = normal(rng);
      for (float& x : v) x = normal(rng);
      kv.Store(seq, 0, pos, k.data(), v.data());
      for (int g = 0; g < s.kv_heads; ++g) {
        const size_t at = (static_cast<size_t>(pos) * s.kv_heads + g) * s.head_dim;
        kv.LoadKeys(seq, 0, g, pos, 1, &stored_keys[at]);
        kv.LoadValues(seq, 0, g, pos, 1, &stored_values[at]);
      }
    }
    kv.Commit(seq, std::vector<int32_t>(n, 1));
  }
}

TEST_P(AttentionTest, MatchesDirectComputation) {
  const Case c = GetParam();
  const ModelSpec spec = OneLayer(c.window, c.softcap, 4, 2, c.head_dim);
  const LayerSpec& l = spec.layers[0];
  const int total = 300;  // far beyond the window: sliding blocks are released behind it
  const int kv_width = l.num_key_value_heads * l.head_dim;
  const int q_width = l.num_attention_heads * l.head_dim;
  std::mt19937 rng(c.window * 100 + c.chunk);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> keys(static_cast<size_t>(total) * kv_width), values(keys.size()),
      queries(static_cast<size_t>(total) * q_width);
  for (float& v : keys) v = normal(rng);
  for (float& v : values) v = normal(rng);
  for (float& v : queries) v = 2.0f * normal(rng);

  KvMemory kv(KvShapes(spec), MemoryFor(c.kv_type, total, c.chunk));
  SequenceKv seq;
  std::vector<float> stored_keys(keys.size()), stored_values(values.size());
  ThreadPool pool(c.threads);
  TiledAttention attention;
  double worst = 0;
  for (int start = 0; start < total; start += c.chunk) {
    const int n = std::min(c.chunk, total - start);
    ASSERT_TRUE(kv.Reserve(seq, start + n));
    for (int t = 0; t < n; ++t) {
      const int pos = start + t;
      kv.Store(seq, 0, pos, &keys[static_cast<size_t>(pos) * kv_width],
               &values[static_cast<size_t>(pos) * kv_width]);
      for (int g = 0; g < l.num_key_value_heads; ++g) {
        const size_t at = (static_cast<size_t>(pos) * l.num_key_value_heads + g) * l.head_dim;
        kv.LoadKeys(seq, 0, g, pos, 1, &stored_keys[at]);
        kv.LoadValues(seq, 0, g, pos, 1, &stored_values[at]);
      }
    }
    std::vector<float> out(static_cast<size_t>(n) * q_width);
    const std::vector<float> q(queries.begin() + static_cast<size_t>(start) * q_width,
                               queries.begin() + static_cast<size_t>(start + n) * q_width);
    const AttentionSegment segment{&seq, 0, n, start};
    attention.Run(l, 0, q.data(), {&segment, 1}, kv, pool, out.data());
    kv.Commit(seq, std::vector<int32_t>(n, 1));
    const std::vector<float> expected = Reference(l, q, n, start, stored_keys, stored_values);
    for (size_t i = 0; i < out.size(); ++i)
      worst = std::max(worst, std::fabs(double(out[i]) - expected[i]));
  }
  if (c.window > 0) {
    // Only the window's blocks are still held.
    EXPECT_GE(kv.FirstHeld(seq, 0),
              (total - c.window) / kKvBlockTokens * kKvBlockTokens - kKvBlockTokens);
    EXPECT_GT(kv.FirstHeld(seq, 0), 0);
  }
  // Outputs are convex combinations of N(0,1) values (|v| < ~5); f32 online
  // softmax over <= 300 keys stays within a few hundred ulps of 1.
  EXPECT_LT(worst, 2e-5) << "window " << c.window << " chunk " << c.chunk;
}

INSTANTIATE_TEST_SUITE_P(
    Windows, AttentionTest,
    ::testing::Values(Case{0, 1, 1, 0, DType::kF32},      // global, decode
                      Case{0, 64, 2, 0, DType::kF32},     // global, prefill, 2 threads
                      Case{16, 1, 2, 0, DType::kF32},     // sliding decode, split keys
                      Case{16, 5, 1, 0, DType::kF32},     // small prefill chunks
                      Case{16, 16, 2, 0, DType::kF32},    // chunk = window
                      Case{5, 7, 2, 0, DType::kF32},      // chunk > window
                      Case{1, 3, 1, 0, DType::kF32},      // window 1: only itself
                      Case{16, 5, 2, 5.0f, DType::kF32},  // Gemma 2 soft-cap
                      Case{16, 5, 2, 0, DType::kBF16}, Case{16, 5, 2, 0, DType::kF16},
                      Case{16, 5, 2, 0, DType::kQ8_0}, Case{16, 5, 2, 0, DType::kQ4_0},
                      // Gemma head sizes: 128 (Gemma 1/2 7B-9B), 256 (Gemma 2 2B, Gemma 3),
                      // 512 (Gemma 4's global layers), decode and prefill.
                      Case{16, 5, 2, 0, DType::kF32, 128}, Case{0, 1, 2, 0, DType::kF32, 256},
                      Case{16, 9, 1, 0, DType::kBF16, 256}, Case{0, 1, 2, 0, DType::kF32, 512},
                      Case{16, 7, 2, 0, DType::kF32, 512}),
    [](const ::testing::TestParamInfo<Case>& info) {
      const Case& c = info.param;
      return "w" + std::to_string(c.window) + "_chunk" + std::to_string(c.chunk) + "_t" +
             std::to_string(c.threads) + (c.softcap > 0 ? "_softcap_" : "_") +
             std::string(Name(c.kv_type)) + "_d" + std::to_string(c.head_dim);
    });

// Across the split boundary (kSplitKeys): a long global context, checked
// against the direct computation for decode and prefill.
TEST(Attention, LongContextAcrossSplits) {
  const ModelSpec spec = OneLayer(0, 0, 2, 1, 32);
  const LayerSpec& l = spec.layers[0];
  const int total = 2 * TiledAttention::kSplitKeys + 77;
  std::mt19937 rng(11);
  KvMemory kv(KvShapes(spec), MemoryFor(DType::kF32, total, 128));
  SequenceKv seq;
  std::vector<float> keys, values;
  Fill(kv, seq, total, 128, rng, keys, values);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  ThreadPool pool(2);
  TiledAttention attention;
  // The last 20 positions as one "prefill" query block run against the keys
  // held (Fill stored them; queries see keys up to their own position).
  const int n = 20, start = total - n;
  std::vector<float> q(static_cast<size_t>(n) * 2 * 32);
  for (float& v : q) v = normal(rng);
  std::vector<float> out(q.size());
  const AttentionSegment segment{&seq, 0, n, start};
  attention.Run(l, 0, q.data(), {&segment, 1}, kv, pool, out.data());
  const std::vector<float> expected = Reference(l, q, n, start, keys, values);
  double worst = 0;
  for (size_t i = 0; i < out.size(); ++i)
    worst = std::max(worst, std::fabs(double(out[i]) - expected[i]));
  EXPECT_LT(worst, 2e-5);
}

// A query's result is the same bits whether it runs alone (one thread or
// two), as a decode row next to other sequences' rows, or inside a prefill
// block: the kernels and the fixed split boundaries make it so.
TEST(Attention, BatchInvariantBits) {
  for (int window : {0, 700}) {
    // One kv head: alone on two threads, the decode row's splits spread over
    // both threads (merged afterwards); on one thread, or beside other rows,
    // one thread runs them in turn.
    const ModelSpec spec = OneLayer(window, 0, 4, 1, 32);
    const LayerSpec& l = spec.layers[0];
    const int q_width = 4 * 32;
    std::mt19937 rng(window + 3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    KvMemory kv(KvShapes(spec), MemoryFor(DType::kBF16, 2048, 64, 3));
    SequenceKv a, b, c;
    std::vector<float> keys, values;
    Fill(kv, a, 1300, 64, rng, keys, values);  // past two split boundaries
    Fill(kv, b, 40, 64, rng, keys, values);
    Fill(kv, c, 600, 64, rng, keys, values);
    // Queries: 16 rows for positions 1284..1299 of a; one for the last of b
    // and of c.
    std::vector<float> qa(16 * q_width), qb(q_width), qc(q_width);
    for (float& v : qa) v = normal(rng);
    for (float& v : qb) v = normal(rng);
    for (float& v : qc) v = normal(rng);
    auto run = [&](std::vector<AttentionSegment> segments, const std::vector<float>& q,
                   int threads) {
      ThreadPool pool(threads);
      TiledAttention attention;
      std::vector<float> out(q.size());
      attention.Run(l, 0, q.data(), segments, kv, pool, out.data());
      return out;
    };
    // Alone: the last row of a as a decode step, on 1 and on 2 threads.
    const std::vector<float> last_a(qa.end() - q_width, qa.end());
    const std::vector<float> alone1 = run({{&a, 0, 1, 1299}}, last_a, 1);
    const std::vector<float> alone2 = run({{&a, 0, 1, 1299}}, last_a, 2);
    EXPECT_EQ(alone1, alone2) << "window " << window;
    // Inside a 16-row prefill block of a.
    const std::vector<float> block = run({{&a, 0, 16, 1284}}, qa, 2);
    EXPECT_TRUE(std::equal(alone1.begin(), alone1.end(), block.end() - q_width))
        << "window " << window;
    // Beside the decode rows of b and c: rows b, a, c.
    std::vector<float> mixed_q = qb;
    mixed_q.insert(mixed_q.end(), last_a.begin(), last_a.end());
    mixed_q.insert(mixed_q.end(), qc.begin(), qc.end());
    const std::vector<float> mixed =
        run({{&b, 0, 1, 39}, {&a, 1, 1, 1299}, {&c, 2, 1, 599}}, mixed_q, 2);
    EXPECT_TRUE(std::equal(alone1.begin(), alone1.end(), mixed.begin() + q_width))
        << "window " << window;
    const std::vector<float> b_alone = run({{&b, 0, 1, 39}}, qb, 1);
    EXPECT_TRUE(std::equal(b_alone.begin(), b_alone.end(), mixed.begin()));
  }
}

}  // namespace
// Rows before every query's window never reach the output, whatever their
// bytes: the key tile starts at its block, before the window, and those rows
// may hold another sequence's keys or memory never written (a loaded session
// has no rows there; NaN is as likely as anything). Probability zero times
// NaN is NaN, so they must not be read at all. Rows 64..83 lie before a
// decode query at 99 (window 16: it sees 84..99), rows 64..68 before a
// 16-row block at 84..99; filling them with 0xff bytes (NaN in every type)
// changes no bit of either result.
TEST(Attention, RowsBeforeEveryWindowAreNeverRead) {
  for (DType type : {DType::kF32, DType::kBF16, DType::kF16, DType::kQ8_0, DType::kQ4_0}) {
    for (bool bf16_dot : {false, true}) {
      const ModelSpec spec = OneLayer(16, 0, 4, 2, 32);
      const LayerSpec& l = spec.layers[0];
      const int q_width = 4 * 32, total = 100;
      std::mt19937 rng(5);
      KvMemory kv(KvShapes(spec), MemoryFor(type, 256, 64, 2));
      SequenceKv seq;
      std::vector<float> keys, values;
      Fill(kv, seq, total, 64, rng, keys, values);
      ASSERT_EQ(kv.FirstHeld(seq, 0), 64);
      std::normal_distribution<float> normal(0.0f, 1.0f);
      std::vector<float> q(16 * q_width);
      for (float& v : q) v = normal(rng);
      const std::vector<float> last(q.end() - q_width, q.end());
      auto run = [&](const AttentionSegment& segment, const std::vector<float>& queries) {
        ThreadPool pool(2);
        TiledAttention attention(bf16_dot);
        std::vector<float> out(queries.size());
        attention.Run(l, 0, queries.data(), {&segment, 1}, kv, pool, out.data());
        return out;
      };
      const AttentionSegment decode{&seq, 0, 1, total - 1}, block{&seq, 0, 16, total - 16};
      const std::vector<float> decode_before = run(decode, last), block_before = run(block, q);
      const std::vector<float> expected = Reference(l, last, 1, total - 1, keys, values);
      double worst = 0;
      for (size_t i = 0; i < expected.size(); ++i)
        worst = std::max(worst, std::fabs(double(decode_before[i]) - expected[i]));
      // The bf16 dot products round queries and probabilities to bf16.
      EXPECT_LT(worst, bf16_dot && type == DType::kBF16 ? 5e-2 : 2e-5) << Name(type);
      // Positions 64..68 are unseen by the block, 64..83 by the decode query.
      for (int pos = 64; pos < 84; ++pos) {
        std::memset(kv.KeyRow(seq, 0, pos), 0xff, kv.row_bytes(0));
        std::memset(kv.ValueRow(seq, 0, pos), 0xff, kv.row_bytes(0));
      }
      EXPECT_EQ(run(decode, last), decode_before) << Name(type) << " bf16_dot " << bf16_dot;
      // Rows 69..83 are seen by the block's first queries: put them back.
      std::mt19937 again(5);
      SequenceKv fresh;
      std::vector<float> k2, v2;
      Fill(kv, fresh, total, 64, again, k2, v2);
      for (int pos = 64; pos < 69; ++pos) {
        std::memset(kv.KeyRow(fresh, 0, pos), 0xff, kv.row_bytes(0));
        std::memset(kv.ValueRow(fresh, 0, pos), 0xff, kv.row_bytes(0));
      }
      const AttentionSegment fresh_block{&fresh, 0, 16, total - 16};
      EXPECT_EQ(run(fresh_block, q), block_before) << Name(type) << " bf16_dot " << bf16_dot;
    }
  }
}

}  // namespace gemma
