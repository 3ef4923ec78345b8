// AttentionScores and AttentionValues (the per-tile products of tiled
// attention) on every compiled SIMD target, reading f32, bf16 and f16 rows in
// place: against a double-precision computation on the same widened rows, and
// for batch invariance (a query's result must not change, to the bit, with
// the number of queries sharing the call or with zero-probability keys
// appended to a tile).
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "base/error.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/ops.h"
#include "quant/quant.h"

namespace gemma {
namespace {

constexpr double kEps = FLT_EPSILON;
constexpr int kHeadDims[] = {32, 40, 256};  // 40: not a multiple of AVX-512's lanes
constexpr int kTile = 64;

// `count` rows of d elements of `type`, laid out two kv heads per slot (the
// cache's interleaving) and handed out in a wrapped order (a ring buffer), as
// pointers. `wide` receives the widened values the kernel should see.
struct Rows {
  std::vector<uint8_t> bytes;
  std::vector<const void*> pointers;
  std::vector<float> wide;  // [count, d]
};

Rows MakeRows(DType type, int count, int d, float sigma, std::mt19937& rng) {
  Rows r;
  const size_t head_bytes = BytesFor(type, d);
  r.bytes.resize(static_cast<size_t>(count) * 2 * head_bytes);
  r.wide.resize(static_cast<size_t>(count) * d);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> src(static_cast<size_t>(d));
  const int wrap = count / 3;
  for (int j = 0; j < count; ++j) {
    const int slot = (j + wrap) % count;
    uint8_t* dst = r.bytes.data() + (static_cast<size_t>(slot) * 2 + 1) * head_bytes;
    for (float& x : src) x = normal(rng);
    QuantizeRowRef(type, src.data(), dst, d);
    DequantizeRowRef(type, dst, &r.wide[static_cast<size_t>(j) * d], d);
    r.pointers.push_back(dst);
  }
  return r;
}

std::vector<float> Random(size_t n, float sigma, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

bool SameBits(const float* a, const float* b, size_t n) {
  return std::memcmp(a, b, n * sizeof(float)) == 0;
}

class AttentionTileTest : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(AttentionTileTest);

TEST_P(AttentionTileTest, ScoresMatchReferenceAndDoNotDependOnBatch) {
  std::mt19937 rng(1);
  for (DType type : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int d : kHeadDims) {
      for (int count : {1, 17, kTile}) {
        const Rows keys = MakeRows(type, count, d, 1.0f, rng);
        const int nq = 13;  // 8 + 4 + 1: every register blocking
        const std::vector<float> q = Random(static_cast<size_t>(nq) * d, 0.5f, rng);
        std::vector<float> scores(static_cast<size_t>(nq) * kTile, NAN);
        AttentionScores(q.data(), nq, d, keys.pointers.data(), type, count, scores.data(), kTile);
        for (int qi = 0; qi < nq; ++qi) {
          for (int j = 0; j < count; ++j) {
            double want = 0, abs_sum = 0;
            for (int i = 0; i < d; ++i) {
              const double p = double(q[static_cast<size_t>(qi) * d + i]) *
                               keys.wide[static_cast<size_t>(j) * d + i];
              want += p;
              abs_sum += std::fabs(p);
            }
            // d / lanes sequential FMAs per lane and a lane reduction, each
            // adding eps/2 of a partial sum bounded by sum |q k|.
            ASSERT_NEAR(scores[static_cast<size_t>(qi) * kTile + j], want, (d + 8) * kEps * abs_sum)
                << Name(type) << " d " << d << " q " << qi << " key " << j;
          }
          // The same query alone, and at another place in a smaller batch.
          std::vector<float> alone(kTile, NAN);
          AttentionScores(&q[static_cast<size_t>(qi) * d], 1, d, keys.pointers.data(), type, count,
                          alone.data(), kTile);
          ASSERT_TRUE(SameBits(alone.data(), &scores[static_cast<size_t>(qi) * kTile], count))
              << Name(type) << " d " << d << " q " << qi;
        }
        std::vector<float> tail(static_cast<size_t>(4) * kTile);
        AttentionScores(&q[static_cast<size_t>(9) * d], 4, d, keys.pointers.data(), type, count,
                        tail.data(), kTile);
        for (int k = 0; k < 4; ++k) {
          ASSERT_TRUE(SameBits(&tail[static_cast<size_t>(k) * kTile],
                               &scores[static_cast<size_t>(9 + k) * kTile], count));
        }
      }
    }
  }
}

TEST_P(AttentionTileTest, ValuesMatchReferenceAndDoNotDependOnBatch) {
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  for (DType type : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int d : kHeadDims) {
      for (int count : {1, 17, kTile - 5}) {
        const Rows values = MakeRows(type, count + 5, d, 1.0f, rng);
        const int nq = 7;  // 4 + 2 + 1
        std::vector<float> probs(static_cast<size_t>(nq) * kTile, 0.0f);
        for (int qi = 0; qi < nq; ++qi) {
          // Some leading keys masked (a window), as the caller leaves them.
          for (int j = qi % 3; j < count; ++j)
            probs[static_cast<size_t>(qi) * kTile + j] = uniform(rng);
        }
        std::vector<float> pv(static_cast<size_t>(nq) * d, NAN);
        AttentionValues(probs.data(), kTile, nq, values.pointers.data(), type, count, d, pv.data());
        for (int qi = 0; qi < nq; ++qi) {
          for (int i = 0; i < d; ++i) {
            double want = 0, abs_sum = 0;
            for (int j = 0; j < count; ++j) {
              const double p = double(probs[static_cast<size_t>(qi) * kTile + j]) *
                               values.wide[static_cast<size_t>(j) * d + i];
              want += p;
              abs_sum += std::fabs(p);
            }
            // count sequential FMAs: eps/2 of a partial sum each.
            ASSERT_NEAR(pv[static_cast<size_t>(qi) * d + i], want, (count + 1) * kEps * abs_sum)
                << Name(type) << " d " << d << " q " << qi << " dim " << i;
          }
          std::vector<float> alone(static_cast<size_t>(d), NAN);
          AttentionValues(&probs[static_cast<size_t>(qi) * kTile], kTile, 1, values.pointers.data(),
                          type, count, d, alone.data());
          ASSERT_TRUE(SameBits(alone.data(), &pv[static_cast<size_t>(qi) * d], d))
              << Name(type) << " d " << d << " q " << qi;
        }
        // Five more keys with probability zero (a tile cut short in one batch
        // and whole in another) leave every sum as it was.
        std::vector<float> longer(pv.size(), NAN);
        AttentionValues(probs.data(), kTile, nq, values.pointers.data(), type, count + 5, d,
                        longer.data());
        ASSERT_TRUE(SameBits(longer.data(), pv.data(), pv.size())) << Name(type) << " d " << d;
      }
    }
  }
}

TEST(AttentionTile, BlockTypesMustBeWidenedFirst) {
  EXPECT_TRUE(AttentionReadsDirectly(DType::kBF16));
  EXPECT_FALSE(AttentionReadsDirectly(DType::kQ8_0));
  const float q[32] = {};
  const void* rows[1] = {q};
  float out[32];
  EXPECT_THROW(AttentionScores(q, 1, 32, rows, DType::kQ4_0, 1, out, 32), Error);
}

}  // namespace
}  // namespace gemma
