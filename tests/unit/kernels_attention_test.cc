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

// Rounds to bf16 (nearest even) and back: what the bf16-dot kernels multiply.
std::vector<float> RoundedToBf16(const float* x, size_t n) {
  std::vector<uint16_t> bf(n);
  std::vector<float> out(n);
  QuantizeRowRef(DType::kBF16, x, bf.data(), static_cast<int64_t>(n));
  DequantizeRowRef(DType::kBF16, bf.data(), out.data(), static_cast<int64_t>(n));
  return out;
}

// The AVX512_BF16 kernels: the same sums with queries and probabilities
// rounded to bf16. Run only where the CPU has the instructions.
TEST(AttentionTileBf16, MatchesReferenceOnRoundedInputsAndDoesNotDependOnBatch) {
  if (!AttentionBf16DotAvailable()) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  for (int d : {32, 256}) {
    for (int count : {1, 17, kTile - 1, kTile}) {
      const Rows keys = MakeRows(DType::kBF16, count, d, 1.0f, rng);
      const Rows values = MakeRows(DType::kBF16, count + 5, d, 1.0f, rng);
      const int nq = 13;  // 4 + 4 + 4 + 1
      const std::vector<float> q = Random(static_cast<size_t>(nq) * d, 0.5f, rng);
      const std::vector<float> q_bf16 = RoundedToBf16(q.data(), q.size());
      std::vector<float> probs(static_cast<size_t>(nq) * kTile, 0.0f);
      for (int qi = 0; qi < nq; ++qi) {
        for (int j = qi % 3; j < count; ++j)
          probs[static_cast<size_t>(qi) * kTile + j] = uniform(rng);
      }
      const std::vector<float> p_bf16 = RoundedToBf16(probs.data(), probs.size());

      std::vector<float> scores(static_cast<size_t>(nq) * kTile, NAN);
      ASSERT_TRUE(
          AttentionScoresBf16(q.data(), nq, d, keys.pointers.data(), count, scores.data(), kTile));
      std::vector<float> pv(static_cast<size_t>(nq) * d, NAN);
      ASSERT_TRUE(AttentionValuesBf16(probs.data(), kTile, nq, values.pointers.data(), count, d,
                                      pv.data()));
      for (int qi = 0; qi < nq; ++qi) {
        for (int j = 0; j < count; ++j) {
          double want = 0, abs_sum = 0;
          for (int i = 0; i < d; ++i) {
            const double p = double(q_bf16[static_cast<size_t>(qi) * d + i]) *
                             keys.wide[static_cast<size_t>(j) * d + i];
            want += p;
            abs_sum += std::fabs(p);
          }
          // Products of two bf16 are exact in f32; then d / 16 + 4 rounded adds.
          ASSERT_NEAR(scores[static_cast<size_t>(qi) * kTile + j], want, (d + 8) * kEps * abs_sum)
              << "d " << d << " q " << qi << " key " << j;
        }
        for (int i = 0; i < d; ++i) {
          double want = 0, abs_sum = 0;
          for (int j = 0; j < count; ++j) {
            const double p = double(p_bf16[static_cast<size_t>(qi) * kTile + j]) *
                             values.wide[static_cast<size_t>(j) * d + i];
            want += p;
            abs_sum += std::fabs(p);
          }
          ASSERT_NEAR(pv[static_cast<size_t>(qi) * d + i], want, (count + 1) * kEps * abs_sum)
              << "d " << d << " q " << qi << " dim " << i;
        }
        // Alone, the same bits.
        std::vector<float> alone_scores(kTile, NAN), alone_pv(static_cast<size_t>(d), NAN);
        ASSERT_TRUE(AttentionScoresBf16(&q[static_cast<size_t>(qi) * d], 1, d, keys.pointers.data(),
                                        count, alone_scores.data(), kTile));
        ASSERT_TRUE(AttentionValuesBf16(&probs[static_cast<size_t>(qi) * kTile], kTile, 1,
                                        values.pointers.data(), count, d, alone_pv.data()));
        ASSERT_TRUE(SameBits(alone_scores.data(), &scores[static_cast<size_t>(qi) * kTile], count));
        ASSERT_TRUE(SameBits(alone_pv.data(), &pv[static_cast<size_t>(qi) * d], d));
      }
      // Zero-probability keys appended (an odd count gains its real partner).
      const int longer_count = std::min(count + 5, kTile);
      if (longer_count == count) continue;
      std::vector<float> longer(pv.size(), NAN);
      ASSERT_TRUE(AttentionValuesBf16(probs.data(), kTile, nq, values.pointers.data(), longer_count,
                                      d, longer.data()));
      ASSERT_TRUE(SameBits(longer.data(), pv.data(), pv.size())) << "d " << d << " count " << count;
    }
  }
}

TEST(AttentionTileBf16, DeclinesHeadSizesItCannotTake) {
  const float q[40] = {};
  const void* rows[1] = {q};
  float out[40];
  EXPECT_FALSE(AttentionScoresBf16(q, 1, 40, rows, 1, out, 40));
  EXPECT_FALSE(AttentionValuesBf16(q, 40, 1, rows, 1, 40, out));
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
