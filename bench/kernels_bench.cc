// MatMul micro-benchmarks per weight type at Gemma 2 2B shapes: decode
// (one token: q/o projections 2304x2304, gate/up 9216x2304, down 2304x9216, the
// tied output head 262144x2304) and prefill (2304x2304 with 64 tokens), on
// both paths: "float" (file layout, f32 activations, the best Highway target)
// and "packed" (repacked weights, 8-bit/bf16 activations; AVX-512 VNNI or
// AVX2, registered where the CPU has them). Both paths also run on each
// weaker target that has packed kernels ("float-AVX2", "packed-AVX2" on an
// AVX-512 machine), for the ratio an AVX2-only CPU would see.
// Reports weight bytes streamed per second for decode (compare with
// BM_StreamRead in the same binary) and GFLOP/s for prefill.
//
//   kernels_bench --benchmark_filter='decode/.*2304x2304'   # one shape
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/half.h"
#include "base/mapped_file.h"
#include "hwy/highway.h"
#include "hwy/targets.h"
#include "kernels/ops.h"
#include "kernels/packed_matmul.h"
#include "threading/thread_pool.h"

namespace gemma {
namespace {

// xorshift64*: fast enough to fill a gigabyte of weights in about a second.
struct Rng {
  uint64_t s = 0x9E3779B97F4A7C15ull;
  uint64_t Next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  float Uniform() { return static_cast<float>(Next() >> 40) / 16777216.0f * 2.0f - 1.0f; }
};

void PutU16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// Offsets of the f16 scale fields in each block (random bytes there could be
// inf/NaN or subnormal and distort timings).
std::vector<int> HalfFields(DType type) {
  switch (type) {
    case DType::kQ4_0:
    case DType::kQ5_0:
    case DType::kQ8_0:
      return {0};
    case DType::kQ4_1:
    case DType::kQ5_1:
    case DType::kQ4_K:
    case DType::kQ5_K:
      return {0, 2};
    case DType::kQ2_K:
      return {80, 82};
    case DType::kQ3_K:
      return {108};
    case DType::kQ6_K:
      return {208};
    default:
      return {};
  }
}

// A weight matrix with random contents; kept across benchmarks of the same
// type and shape (the output head takes a while to fill).
struct Matrix {
  DType type;
  int64_t rows = 0, cols = 0;
  std::unique_ptr<uint8_t[]> bytes;
  HugeBuffer packed;
  WeightMatrix w;
};

WeightMatrix GetMatrix(DType type, int64_t rows, int64_t cols, bool packed) {
  static Matrix m;
  auto result = [&] {
    WeightMatrix w = m.w;
    if (packed) {
      if (!m.packed) {
        m.packed = AllocateHugeBuffer(PackedBytes(m.w));
        PackGroups(m.w, 0, (rows + kPackRows - 1) / kPackRows, m.packed.get());
      }
      w.packed = m.packed.get();
    }
    return w;
  };
  if (m.bytes && m.type == type && m.rows == rows && m.cols == cols) return result();
  m.bytes.reset();  // free the previous one first: the head is up to 1.2 GB
  m.packed.reset();
  m.type = type;
  m.rows = rows;
  m.cols = cols;
  const size_t row_bytes = BytesFor(type, cols);
  const size_t total = row_bytes * static_cast<size_t>(rows);
  m.bytes.reset(new uint8_t[total]);
  Rng rng;
  uint8_t* p = m.bytes.get();
  if (type == DType::kF32) {
    for (size_t i = 0; i < total / 4; ++i) {
      const float f = rng.Uniform();
      std::memcpy(p + 4 * i, &f, 4);
    }
  } else if (type == DType::kBF16 || type == DType::kF16) {
    for (size_t i = 0; i < total / 2; ++i) {
      const float f = rng.Uniform();
      PutU16(p + 2 * i, type == DType::kBF16 ? F32ToBf16(f) : F32ToF16(f));
    }
  } else {
    for (size_t i = 0; i + 8 <= total; i += 8) {
      const uint64_t v = rng.Next();
      std::memcpy(p + i, &v, 8);
    }
    const size_t block_bytes = static_cast<size_t>(Info(type).block_bytes);
    const std::vector<int> fields = HalfFields(type);
    for (size_t b = 0; b < total / block_bytes; ++b) {
      for (int off : fields)
        PutU16(p + b * block_bytes + off, F32ToF16(0.01f * (1.0f + rng.Uniform())));
    }
  }
  m.w.type = type;
  m.w.data = p;
  m.w.rows = rows;
  m.w.cols = cols;
  m.w.row_bytes = row_bytes;
  return result();
}

ThreadPool& Pool(int threads) {
  static std::unique_ptr<ThreadPool> pools[65];
  if (!pools[threads]) pools[threads] = std::make_unique<ThreadPool>(threads);
  return *pools[threads];
}

// target: the SIMD target to dispatch to (0: the best this CPU has).
// precise: MatMulHead (the output head's second pass over the activations'
// 8-bit rounding error) instead of MatMul.
void BM_MatMul(benchmark::State& state, DType type, int64_t rows, int64_t cols, int64_t tokens,
               int threads, bool packed, int64_t target, bool precise) {
  hwy::SetSupportedTargetsForTest(target);
  const WeightMatrix w = GetMatrix(type, rows, cols, packed);
  std::vector<float> x(static_cast<size_t>(tokens * cols));
  Rng rng;
  for (float& v : x) v = rng.Uniform();
  std::vector<float> y(static_cast<size_t>(tokens * rows));
  ThreadPool& pool = Pool(threads);
  for (auto _ : state) {
    if (precise) {
      MatMulHead(w, x.data(), tokens, y.data(), rows, pool);
    } else {
      MatMul(w, x.data(), tokens, y.data(), rows, pool);
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double weight_bytes = static_cast<double>(w.row_bytes) * static_cast<double>(rows);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(weight_bytes));
  state.counters["GBps"] =
      benchmark::Counter(weight_bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOPs"] = benchmark::Counter(2.0 * rows * cols * tokens / 1e9,
                                                benchmark::Counter::kIsIterationInvariantRate);
  hwy::SetSupportedTargetsForTest(0);
}

// The best target (0), then each weaker one that has packed kernels, with
// its name ("" for the best).
std::vector<std::pair<int64_t, std::string>> BenchTargets() {
  std::vector<std::pair<int64_t, std::string>> targets = {{0, ""}};
  const std::vector<int64_t> supported = hwy::SupportedAndGeneratedTargets();
  for (size_t i = 1; i < supported.size(); ++i) {
    hwy::SetSupportedTargetsForTest(supported[i]);
    if (PackedMatMulAvailable()) {
      targets.emplace_back(supported[i], std::string("-") + hwy::TargetName(supported[i]));
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  return targets;
}

struct Shape {
  const char* kind;  // "head": the output head's decode through MatMulHead
  int64_t rows, cols, tokens;
};

int RegisterAll() {
  const DType types[] = {DType::kF32,  DType::kBF16, DType::kF16,  DType::kQ8_0, DType::kQ4_0,
                         DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ2_K, DType::kQ3_K,
                         DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};
  // clang-format off
  const Shape shapes[] = {
      {"decode", 2304, 2304, 1}, {"decode", 9216, 2304, 1}, {"decode", 2304, 9216, 1},
      {"decode", 262144, 2304, 1}, {"head", 262144, 2304, 1},
      {"prefill", 2304, 2304, 64}, {"prefill", 9216, 2304, 64}, {"prefill", 2304, 9216, 64},
      // Gemma 3 1B, and the eight decode rows of an eight-stream server step.
      {"decode", 6912, 1152, 1}, {"batch", 6912, 1152, 8}, {"batch", 1152, 6912, 8},
      {"decode", 262144, 1152, 1}, {"head", 262144, 1152, 1}, {"head", 262144, 1152, 8},
      {"batch", 262144, 1152, 8}};
  // clang-format on
  const int max_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::vector<std::pair<int64_t, std::string>> targets = BenchTargets();
  for (const Shape& s : shapes) {
    for (DType type : types) {
      // The head only in the types a model would store it in (f32 would need
      // 2.4 GB), and Q5_K for a decode from DRAM; every type at the smaller
      // shapes.
      const bool head = s.rows == 262144;
      if (head && type != DType::kBF16 && type != DType::kF16 && type != DType::kQ8_0 &&
          type != DType::kQ4_0 && type != DType::kQ4_K && type != DType::kQ5_K &&
          type != DType::kQ6_K) {
        continue;
      }
      for (int threads : {1, max_threads}) {
        for (const auto& [target, suffix] : targets) {
          hwy::SetSupportedTargetsForTest(target);
          for (bool packed : {false, true}) {
            if (threads == 1 && max_threads == 1) continue;
            WeightMatrix probe;
            probe.type = type;
            probe.rows = s.rows;
            probe.cols = s.cols;
            if (packed && !(PackedMatMulAvailable() && PackedMatMulSupports(probe))) continue;
            const std::string path = std::string(packed ? "packed" : "float") + suffix;
            // snprintf rather than a chain of string operator+, which trips a
            // GCC 12 -Wrestrict false positive at -O3.
            char name[128];
            const std::string type_name(Name(type));
            if (s.tokens > 1) {
              std::snprintf(name, sizeof(name), "MatMul/%s/%s/%lldx%lldx%lldtok/%s/threads:%d",
                            type_name.c_str(), s.kind, static_cast<long long>(s.rows),
                            static_cast<long long>(s.cols), static_cast<long long>(s.tokens),
                            path.c_str(), threads);
            } else {
              std::snprintf(name, sizeof(name), "MatMul/%s/%s/%lldx%lld/%s/threads:%d",
                            type_name.c_str(), s.kind, static_cast<long long>(s.rows),
                            static_cast<long long>(s.cols), path.c_str(), threads);
            }
            benchmark::RegisterBenchmark(name, BM_MatMul, type, s.rows, s.cols, s.tokens, threads,
                                         packed, target, std::strcmp(s.kind, "head") == 0)
                ->UseRealTime()
                ->Unit(head ? benchmark::kMillisecond : benchmark::kMicrosecond);
          }
        }
        hwy::SetSupportedTargetsForTest(0);
      }
    }
  }
  return 0;
}

const int kRegistered = RegisterAll();

}  // namespace
}  // namespace gemma
