// Tiled attention at Gemma 3 1B's global-layer shape (4 query heads sharing
// one kv head of 256 dims) over a bf16 KV cache: decode of one token at a
// given depth, and a 16-token prefill block at that depth, through the model's
// 4 global layers in turn (at 32K their K/V, 134 MB, are 4x the L3, as in a
// real decode step). Third argument: 1 for the bf16-dot kernels (the default
// path on AVX512_BF16 CPUs), 0 for the f32 ones (--exact). Counter
// "kv_bytes_per_second" is the K/V bytes read over the time taken, to put next
// to bandwidth_bench's streaming rate.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "memory/kv_memory.h"
#include "model/attention.h"
#include "threading/thread_pool.h"

namespace gemma {
namespace {

constexpr int kLayers = 4;

ModelSpec GlobalLayer(int context) {
  ModelSpec spec;
  spec.vocab_size = 16;
  spec.hidden_size = 1152;
  spec.context_length = context;
  LayerSpec l;
  l.attention = AttentionType::kGlobal;
  l.num_attention_heads = 4;
  l.num_key_value_heads = 1;
  l.head_dim = 256;
  l.intermediate_size = 64;
  l.query_scale = 0.0625f;
  spec.layers.assign(kLayers, l);
  return spec;
}

// One filled memory per (depth, type), shared by the benchmarks.
struct Filled {
  std::unique_ptr<KvMemory> kv;
  SequenceKv seq;
};
const Filled& FilledCache(int depth, DType type) {
  static std::vector<std::unique_ptr<Filled>> caches;
  for (const auto& c : caches) {
    if (c->seq.size() == depth && c->kv->type() == type) return *c;
  }
  const ModelSpec spec = GlobalLayer(depth);
  auto filled = std::make_unique<Filled>();
  KvMemory::Config config;
  config.type = type;
  config.context_length = depth;
  config.max_batch = 256;
  filled->kv = std::make_unique<KvMemory>(KvShapes(spec), config);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> k(256), v(256);
  if (!filled->kv->Reserve(filled->seq, depth)) std::abort();
  for (int pos = 0; pos < depth; ++pos) {
    for (float& x : k) x = normal(rng);
    for (float& x : v) x = normal(rng);
    for (int layer = 0; layer < kLayers; ++layer) {
      filled->kv->Store(filled->seq, layer, pos, k.data(), v.data());
    }
  }
  filled->kv->Commit(filled->seq, std::vector<int32_t>(depth, 1));
  caches.push_back(std::move(filled));
  return *caches.back();
}

void Run(benchmark::State& state, int queries) {
  const int depth = static_cast<int>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  const Filled& cache = FilledCache(depth, DType::kBF16);
  const AttentionSegment segment{&cache.seq, 0, queries, depth - queries};
  const LayerSpec l = GlobalLayer(depth).layers[0];
  std::vector<float> q(static_cast<size_t>(queries) * 4 * 256, 0.5f);
  std::vector<float> out(q.size());
  ThreadPool pool(threads);
  TiledAttention attention(/*bf16_dot=*/state.range(2) != 0);
  for (auto _ : state) {
    for (int layer = 0; layer < kLayers; ++layer) {
      attention.Run(l, layer, q.data(), {&segment, 1}, *cache.kv, pool, out.data());
    }
    benchmark::DoNotOptimize(out.data());
  }
  const double kv_bytes = 2.0 * kLayers * depth * 256 * 2;
  state.counters["kv_bytes_per_second"] =
      benchmark::Counter(kv_bytes * state.iterations(), benchmark::Counter::kIsRate);
}

void BM_AttentionDecode(benchmark::State& state) { Run(state, 1); }
void BM_AttentionPrefillBlock(benchmark::State& state) { Run(state, 16); }

BENCHMARK(BM_AttentionDecode)
    ->ArgsProduct({{1024, 32768}, {1, 2}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AttentionPrefillBlock)
    ->ArgsProduct({{4096}, {1, 2}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace gemma
