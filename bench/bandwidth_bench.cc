// Streaming read bandwidth: sums a buffer much larger than the last-level
// cache with SIMD loads, split across the ThreadPool like a decode MatMul
// splits its weight rows. The ceiling that decode matvec GB/s is compared to.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "threading/thread_pool.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bench/bandwidth_bench.cc"
#include "hwy/aligned_allocator.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace gemma {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Sum of u32 words (wrapping): four independent accumulators so the adds
// never limit the load rate.
uint32_t SumWords(const uint32_t* HWY_RESTRICT p, size_t n) {
  const hn::ScalableTag<uint32_t> d;
  const size_t N = hn::Lanes(d);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    a0 = hn::Add(a0, hn::Load(d, p + i));
    a1 = hn::Add(a1, hn::Load(d, p + i + N));
    a2 = hn::Add(a2, hn::Load(d, p + i + 2 * N));
    a3 = hn::Add(a3, hn::Load(d, p + i + 3 * N));
  }
  uint32_t sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; i < n; ++i) sum += p[i];
  return sum;
}

}  // namespace HWY_NAMESPACE
}  // namespace gemma
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace gemma {
namespace {

HWY_EXPORT(SumWords);

constexpr size_t kBufferBytes = size_t{1} << 30;  // 1 GiB, 32x the L3

const uint32_t* Buffer() {
  static const hwy::AlignedFreeUniquePtr<uint32_t[]> buf = [] {
    auto b = hwy::AllocateAligned<uint32_t>(kBufferBytes / 4);
    // Touch every page (and give the sum something to add).
    for (size_t i = 0; i < kBufferBytes / 4; ++i) b[i] = static_cast<uint32_t>(i);
    return b;
  }();
  return buf.get();
}

void BM_StreamRead(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  ThreadPool pool(threads);
  const uint32_t* buf = Buffer();
  const size_t words = kBufferBytes / 4;
  // 64 KiB grains: whole cache lines and pages per chunk.
  const size_t grain = 16384;
  uint32_t partial[64] = {};
  for (auto _ : state) {
    pool.ParallelFor(words, grain, [&](size_t begin, size_t end, int thread) {
      partial[thread] += HWY_DYNAMIC_DISPATCH(SumWords)(buf + begin, end - begin);
    });
    benchmark::DoNotOptimize(partial);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kBufferBytes));
  state.counters["GBps"] = benchmark::Counter(static_cast<double>(kBufferBytes) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_StreamRead)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gemma
#endif  // HWY_ONCE
