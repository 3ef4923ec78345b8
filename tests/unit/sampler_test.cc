// The token sampler: greedy decoding, each filter on hand-built
// distributions, penalties, the PRNG stream, draw frequencies against
// softmax(logits / T), reproducibility, and non-finite logits.
#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "base/error.h"
#include "hwy/targets.h"

namespace gemma {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

SamplingParams Random(float temperature = 1.0f) {
  SamplingParams p;
  p.temperature = temperature;
  return p;
}

// Logits whose softmax is `probs` (at temperature 1).
std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

std::vector<int32_t> Ids(const std::vector<TokenProb>& dist) {
  std::vector<int32_t> ids;
  for (const TokenProb& t : dist) ids.push_back(t.id);
  return ids;
}

// Draw counts per id; Sample gets a fresh copy each time because it applies
// penalties in place.
std::vector<int> Draw(Sampler& sampler, const std::vector<float>& logits, int n,
                      std::span<const int32_t> recent = {}) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n; ++i) {
    std::vector<float> copy = logits;
    const int32_t id = sampler.Sample(copy.data(), static_cast<int32_t>(copy.size()), recent);
    EXPECT_GE(id, 0);
    EXPECT_LT(id, static_cast<int32_t>(logits.size()));
    if (id >= 0 && id < static_cast<int32_t>(logits.size())) ++counts[id];
  }
  return counts;
}

std::vector<TokenProb> DistributionOf(const SamplingParams& params, std::vector<float> logits,
                                      std::span<const int32_t> recent = {}) {
  Sampler sampler(params);
  return sampler.Distribution(logits.data(), static_cast<int32_t>(logits.size()), recent);
}

TEST(Rng, MatchesReferenceXoshiro256StarStar) {
  // Expected words were computed independently (a short Python transcription
  // of splitmix64 and xoshiro256**); splitmix64's first output for seed 0,
  // 0xE220A8397B1DCDAF, is the published reference value. Pinning the stream
  // is what makes "same seed, same tokens" hold across platforms.
  Rng zero(0);
  EXPECT_EQ(zero.Next(), 0x99EC5F36CB75F2B4ull);
  EXPECT_EQ(zero.Next(), 0xBF6E1F784956452Aull);
  EXPECT_EQ(zero.Next(), 0x1A5F849D4933E6E0ull);
  Rng coffee(0xC0FFEE);
  EXPECT_EQ(coffee.Next(), 0x120E99A6DDE4A550ull);
  EXPECT_EQ(coffee.Next(), 0x8F989EF97733D4B4ull);
  EXPECT_EQ(coffee.Next(), 0xF0A28EB2E4FD367Bull);
}

TEST(Rng, UniformIsInUnitInterval) {
  Rng rng(7);
  double sum = 0.0;
  constexpr int kN = 100000;
  for (int i = 0; i < kN; ++i) {
    const double u = rng.Uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  // Mean of kN uniforms has sd sqrt(1/12 / kN) ~ 0.0009; allow 5 sd.
  EXPECT_NEAR(sum / kN, 0.5, 5 * std::sqrt(1.0 / 12 / kN));
}

TEST(ArgMax, TiesGoToLowestIdAndNaNIsSkipped) {
  const std::vector<float> a = {1, 3, 2, 3};
  EXPECT_EQ(ArgMax(a.data(), 4), 1);
  const std::vector<float> b = {kNaN, -1, kNaN, 5, kNaN};
  EXPECT_EQ(ArgMax(b.data(), 5), 3);
  const std::vector<float> c = {kNaN, kNaN};
  EXPECT_EQ(ArgMax(c.data(), 2), 0);
  const std::vector<float> d = {-kInf, -kInf, -kInf};
  EXPECT_EQ(ArgMax(d.data(), 3), 0);
  const std::vector<float> e = {1, kInf, kNaN, kInf};
  EXPECT_EQ(ArgMax(e.data(), 4), 1);
}

// The vectorized ArgMax against the plain scan it replaced (first id of the
// largest non-NaN value), on every SIMD target this CPU runs, on lengths
// around the vector widths, with ties inside and across vectors, NaN,
// infinities and signed zeros.
TEST(ArgMax, MatchesAFirstStrictlyGreaterScanOnEveryTarget) {
  const auto scan = [](const std::vector<float>& v) {
    int32_t best = -1;
    for (int32_t i = 0; i < static_cast<int32_t>(v.size()); ++i) {
      if (std::isnan(v[i])) continue;
      if (best < 0 || v[i] > v[best]) best = i;
    }
    return best < 0 ? 0 : best;
  };
  const float pool[] = {-2.0f, -1.0f, -0.0f, 0.0f, 1.0f, 2.0f, kNaN, kInf, -kInf};
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    std::mt19937 rng(7);
    int checked = 0;
    for (int len : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 262144}) {
      for (int trial = 0; trial < (len > 1000 ? 20 : 200); ++trial) {
        // Few distinct values, so ties and all-NaN/-inf inputs are common;
        // each trial draws from a part of the pool.
        const int lo = static_cast<int>(rng() % 9);
        const int hi = lo + 1 + static_cast<int>(rng() % (9 - lo));
        std::vector<float> v(static_cast<size_t>(len));
        for (float& x : v) x = pool[lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo))];
        if (len > 1000 && trial % 2 == 0) {  // distinct values, one maximum
          std::uniform_real_distribution<float> u(-30.0f, 30.0f);
          for (float& x : v) x = u(rng);
        }
        ASSERT_EQ(ArgMax(v.data(), len), scan(v))
            << hwy::TargetName(target) << ", length " << len << ", trial " << trial;
        ++checked;
      }
    }
    EXPECT_EQ(checked, 15 * 200 + 20);
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_GE(targets.size(), 2u);  // at least the best target and a fallback
}

TEST(Sampler, GreedyIsArgMax) {
  for (float t : {0.0f, -1.0f, kNaN}) {
    SamplingParams p;
    p.temperature = t;
    p.top_k = 1000;  // filters do not matter for greedy decoding
    p.top_p = 0.1f;
    Sampler sampler(p);
    std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f};
    EXPECT_EQ(sampler.Sample(logits.data(), 5, {}), 1) << t;
    std::vector<float> with_nan = {kNaN, 0.1f, kNaN, 0.3f};
    EXPECT_EQ(sampler.Sample(with_nan.data(), 4, {}), 3) << t;
    std::vector<float> copy = {0.5f, 2.0f, -1.0f};
    const std::vector<TokenProb> dist = sampler.Distribution(copy.data(), 3, {});
    ASSERT_EQ(dist.size(), 1u);
    EXPECT_EQ(dist[0].id, 1);
    EXPECT_EQ(dist[0].prob, 1.0f);
  }
}

TEST(Sampler, GreedyAppliesPenaltiesFirst) {
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  Sampler sampler(p);
  std::vector<float> logits = {1.0f, 3.0f, 2.0f};
  const std::vector<int32_t> recent = {1};
  // 3 / 2 = 1.5 < 2: the penalty moves the argmax to token 2.
  EXPECT_EQ(sampler.Sample(logits.data(), 3, recent), 2);
  EXPECT_FLOAT_EQ(logits[1], 1.5f);
}

TEST(Penalties, ChangeTheRightLogitsByTheRightAmounts) {
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  p.penalty_last_n = -1;
  std::vector<float> logits = {2.0f, -2.0f, 1.0f, 0.5f, 3.0f, 0.0f};
  // Token 0 once, token 1 twice, token 3 once, token 5 once; 7 and -1 are
  // out of range and must be ignored.
  const std::vector<int32_t> recent = {0, 1, 7, 1, -1, 3, 5};
  ApplyPenalties(p, logits.data(), 6, recent);
  EXPECT_FLOAT_EQ(logits[0], 2.0f / 2 - 0.5f - 0.25f);       // positive: divided
  EXPECT_FLOAT_EQ(logits[1], -2.0f * 2 - 0.5f - 2 * 0.25f);  // negative: multiplied
  EXPECT_FLOAT_EQ(logits[2], 1.0f);                          // unseen
  EXPECT_FLOAT_EQ(logits[3], 0.5f / 2 - 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(logits[4], 3.0f);                     // unseen
  EXPECT_FLOAT_EQ(logits[5], 0.0f * 2 - 0.5f - 0.25f);  // zero stays zero, then shifted
}

TEST(Penalties, OnlyTheLastNTokensCount) {
  SamplingParams p;
  p.frequency_penalty = 1.0f;
  const std::vector<int32_t> recent = {0, 0, 0, 1, 2, 1};
  const std::vector<float> base = {0, 0, 0};

  p.penalty_last_n = 3;  // sees {1, 2, 1}
  std::vector<float> logits = base;
  ApplyPenalties(p, logits.data(), 3, recent);
  EXPECT_EQ(logits, (std::vector<float>{0, -2, -1}));

  p.penalty_last_n = -1;  // everything
  logits = base;
  ApplyPenalties(p, logits.data(), 3, recent);
  EXPECT_EQ(logits, (std::vector<float>{-3, -2, -1}));

  p.penalty_last_n = 100;  // longer than the history
  logits = base;
  ApplyPenalties(p, logits.data(), 3, recent);
  EXPECT_EQ(logits, (std::vector<float>{-3, -2, -1}));

  p.penalty_last_n = 0;  // off
  logits = base;
  ApplyPenalties(p, logits.data(), 3, recent);
  EXPECT_EQ(logits, base);

  p.penalty_last_n = 64;  // no history
  logits = base;
  ApplyPenalties(p, logits.data(), 3, {});
  EXPECT_EQ(logits, base);
}

TEST(Penalties, DefaultsAndBadValuesLeaveLogitsAlone) {
  const std::vector<int32_t> recent = {0, 1, 1};
  const std::vector<float> base = {1.0f, -1.0f};
  std::vector<float> logits = base;
  ApplyPenalties(SamplingParams(), logits.data(), 2, recent);
  EXPECT_EQ(logits, base);
  for (float bad : {0.0f, -1.0f, kNaN, kInf}) {
    SamplingParams p;
    p.repetition_penalty = bad;
    p.presence_penalty = kNaN;
    p.frequency_penalty = kInf;
    logits = base;
    ApplyPenalties(p, logits.data(), 2, recent);
    EXPECT_EQ(logits, base) << bad;
  }
}

TEST(Sampler, PenaltiesApplyBeforeSampling) {
  SamplingParams p = Random();
  p.presence_penalty = std::log(4.0f);  // divides a token's odds by 4
  const std::vector<int32_t> recent = {0};
  const std::vector<TokenProb> dist = DistributionOf(p, {0.0f, 0.0f}, recent);
  ASSERT_EQ(dist.size(), 2u);
  EXPECT_NEAR(dist[0].prob, 0.2, 1e-6);
  EXPECT_NEAR(dist[1].prob, 0.8, 1e-6);
}

TEST(LogSoftmax, MatchesDefinition) {
  const std::vector<float> logits = {1.0f, 2.0f, -0.5f, 0.0f};
  for (float t : {1.0f, 0.5f, 3.0f}) {
    std::vector<float> out(4);
    LogSoftmax(logits.data(), 4, t, out.data());
    double z = 0;
    for (float l : logits) z += std::exp(l / t);
    double total = 0;
    for (int i = 0; i < 4; ++i) {
      EXPECT_NEAR(out[i], logits[i] / t - std::log(z), 1e-6) << t;
      total += std::exp(out[i]);
    }
    EXPECT_NEAR(total, 1.0, 1e-6);
  }
  // In place, with NaN and infinities.
  std::vector<float> odd = {kNaN, 0.0f, -kInf, 0.0f};
  LogSoftmax(odd.data(), 4, 1.0f, odd.data());
  EXPECT_EQ(odd[0], -kInf);
  EXPECT_NEAR(odd[1], std::log(0.5), 1e-6);
  EXPECT_EQ(odd[2], -kInf);
  EXPECT_NEAR(odd[3], std::log(0.5), 1e-6);
  std::vector<float> inf = {kInf, 5.0f, kInf};
  LogSoftmax(inf.data(), 3, 1.0f, inf.data());
  EXPECT_NEAR(inf[0], std::log(0.5), 1e-6);
  EXPECT_EQ(inf[1], -kInf);
  EXPECT_NEAR(inf[2], std::log(0.5), 1e-6);
}

// Checks that draw frequencies match softmax(logits / T). Each count is
// Binomial(n, p_i); with mean n p_i and standard deviation
// sqrt(n p_i (1 - p_i)), a correct sampler leaves the 5-sigma band with
// probability about 6e-7 per token (normal approximation; every n p_i here is
// in the thousands), so a failure means a wrong distribution, not bad luck.
// The seed is fixed, so the test is deterministic anyway.
void ExpectMatchesSoftmax(const std::vector<float>& logits, float temperature, uint64_t seed) {
  constexpr int kDraws = 200000;
  Sampler sampler(Random(temperature));
  sampler.Reseed(seed);
  const std::vector<int> counts = Draw(sampler, logits, kDraws);
  std::vector<float> log_probs(logits.size());
  LogSoftmax(logits.data(), static_cast<int32_t>(logits.size()), temperature, log_probs.data());
  for (size_t i = 0; i < logits.size(); ++i) {
    const double p = std::exp(static_cast<double>(log_probs[i]));
    const double mean = kDraws * p;
    const double sd = std::sqrt(kDraws * p * (1 - p));
    EXPECT_NEAR(counts[i], mean, 5 * sd) << "token " << i << " T " << temperature;
  }
}

TEST(Sampler, FrequenciesMatchSoftmaxOverTemperature) {
  const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -0.5f, -1.0f, 2.0f};
  ExpectMatchesSoftmax(logits, 1.0f, 1);
  ExpectMatchesSoftmax(logits, 0.7f, 2);
  ExpectMatchesSoftmax(logits, 2.0f, 3);
}

TEST(Sampler, FrequenciesMatchTheFilteredDistribution) {
  // All filters at once; the same 5-sigma binomial bound as above, against
  // the renormalized distribution the filters leave.
  const std::vector<float> logits = {0.3f, 2.0f, -1.0f, 1.2f, 0.9f, -4.0f, 1.5f, 0.0f};
  SamplingParams p = Random(0.9f);
  p.top_k = 6;
  p.top_p = 0.9f;
  p.min_p = 0.05f;
  const std::vector<TokenProb> dist = DistributionOf(p, logits);
  ASSERT_GE(dist.size(), 3u);
  ASSERT_LT(dist.size(), 6u);
  constexpr int kDraws = 200000;
  Sampler sampler(p);
  const std::vector<int> counts = Draw(sampler, logits, kDraws);
  int kept = 0;
  for (const TokenProb& t : dist) {
    const double mean = kDraws * static_cast<double>(t.prob);
    const double sd = std::sqrt(mean * (1 - t.prob));
    EXPECT_NEAR(counts[t.id], mean, 5 * sd) << "token " << t.id;
    kept += counts[t.id];
  }
  EXPECT_EQ(kept, kDraws);
}

TEST(Sampler, DistributionIsSoftmaxOverTemperature) {
  const std::vector<float> logits = {1.0f, 0.5f, 0.0f, -3.0f};
  const float t = 0.8f;
  const std::vector<TokenProb> dist = DistributionOf(Random(t), logits);
  ASSERT_EQ(Ids(dist), (std::vector<int32_t>{0, 1, 2, 3}));
  std::vector<float> log_probs(4);
  LogSoftmax(logits.data(), 4, t, log_probs.data());
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(dist[i].prob, std::exp(log_probs[i]), 1e-6);
}

TEST(TopK, TwoNeverSamplesTheThird) {
  SamplingParams p = Random();
  p.top_k = 2;
  Sampler sampler(p);
  // The third token is nearly as likely as the first two.
  const std::vector<float> logits = {0.9f, 1.0f, 0.95f, -1.0f, 0.0f};
  const std::vector<int> counts = Draw(sampler, logits, 10000);
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[3], 0);
  EXPECT_EQ(counts[4], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[2], 0);
  // What is left is renormalized: e^1 : e^0.95.
  const std::vector<TokenProb> dist = DistributionOf(p, logits);
  ASSERT_EQ(Ids(dist), (std::vector<int32_t>{1, 2}));
  EXPECT_NEAR(dist[0].prob, 1 / (1 + std::exp(-0.05)), 1e-6);
}

TEST(TopK, TiesKeepTheLowestIds) {
  SamplingParams p = Random();
  p.top_k = 3;
  EXPECT_EQ(Ids(DistributionOf(p, std::vector<float>(10, 0.0f))), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(Ids(DistributionOf(p, {0, 1, 0, 1, 0})), (std::vector<int32_t>{0, 1, 3}));
}

TEST(TopK, LargerThanVocabOrNegativeIsOff) {
  for (int k : {0, -3, 5, 6, 1 << 30}) {
    SamplingParams p = Random();
    p.top_k = k;
    EXPECT_EQ(DistributionOf(p, {1, 2, 3, 4, 5}).size(), 5u) << k;
  }
}

// A reference top-k: full sort by (logit descending, id ascending).
std::vector<int32_t> ReferenceTopK(const std::vector<float>& logits, int k) {
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  order.resize(std::min(order.size(), static_cast<size_t>(k)));
  std::sort(order.begin(), order.end());
  return order;
}

TEST(TopK, SmallAndLargeKMatchAFullSort) {
  // Small k streams through a heap, large k selects over all candidates;
  // both must give the reference set. Logits on a coarse grid make many
  // ties at every boundary, including descending runs that replace the
  // heap's front often.
  Rng rng(17);
  std::vector<float> logits(20000);
  for (float& l : logits) l = static_cast<float>(static_cast<int>(rng.Uniform() * 50)) * 0.1f;
  for (int i = 0; i < 2000; ++i) logits[i] = 0.001f * i;
  for (int k : {1, 2, 40, 4095, 4096, 4097, 10000, 19999}) {
    SamplingParams p = Random(10.0f);  // hot, so no weight underflows
    p.top_k = k;
    EXPECT_EQ(Ids(DistributionOf(p, logits)), ReferenceTopK(logits, k)) << k;
  }
}

TEST(TopK, AppliesAmongInfiniteLogits) {
  SamplingParams p = Random();
  p.top_k = 2;
  EXPECT_EQ(Ids(DistributionOf(p, {kInf, 1.0f, kInf, kInf})), (std::vector<int32_t>{0, 2}));
}

TEST(TopP, KeepsTheSmallestPrefixReachingP) {
  // Sorted probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625, placed out of id
  // order so that the prefix is by probability, not by id.
  const std::vector<float> logits = LogitsOf({0.0625, 0.25, 0.5, 0.0625, 0.125});
  struct Case {
    float top_p;
    std::vector<int32_t> ids;
  };
  // Targets sit between the cumulative sums 0.5, 0.75, 0.875, 0.9375, 1.
  for (const Case& c : {Case{0.4f, {2}}, Case{0.6f, {1, 2}}, Case{0.8f, {1, 2, 4}},
                        Case{0.9f, {0, 1, 2, 4}}, Case{0.99f, {0, 1, 2, 3, 4}}}) {
    SamplingParams p = Random();
    p.top_p = c.top_p;
    const std::vector<TokenProb> dist = DistributionOf(p, logits);
    EXPECT_EQ(Ids(dist), c.ids) << c.top_p;
    Sampler sampler(p);
    const std::vector<int> counts = Draw(sampler, logits, 2000);
    for (int32_t id = 0; id < 5; ++id) {
      const bool kept = std::find(c.ids.begin(), c.ids.end(), id) != c.ids.end();
      if (kept) {
        EXPECT_GT(counts[id], 0) << c.top_p << " id " << id;
      } else {
        EXPECT_EQ(counts[id], 0) << c.top_p << " id " << id;
      }
    }
  }
}

TEST(TopP, ZeroOrNegativeKeepsTheBestToken) {
  for (float top_p : {0.0f, -1.0f}) {
    SamplingParams p = Random();
    p.top_p = top_p;
    EXPECT_EQ(Ids(DistributionOf(p, {0.0f, 3.0f, 1.0f, 3.0f})), (std::vector<int32_t>{1}));
  }
}

// A reference top-p over a whole vocabulary: full sort, then the prefix.
std::set<int32_t> ReferenceTopP(const std::vector<float>& logits, float top_p) {
  const float max = *std::max_element(logits.begin(), logits.end());
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  double total = 0;
  for (float l : logits) total += std::exp(l - max);
  std::set<int32_t> kept;
  double mass = 0;
  for (int32_t id : order) {
    kept.insert(id);
    mass += std::exp(logits[id] - max);
    if (mass >= top_p * total) break;
  }
  return kept;
}

TEST(TopP, MatchesAFullSortOnALargeFlatVocabulary) {
  // A flat distribution puts the nucleus far past the first sorted block, so
  // several blocks are selected and sorted.
  Rng rng(11);
  std::vector<float> logits(5000);
  for (float& l : logits) l = static_cast<float>(rng.Uniform() * 2.0);
  for (float top_p : {0.05f, 0.3f, 0.77f, 0.95f}) {
    SamplingParams p = Random();
    p.top_p = top_p;
    const std::vector<int32_t> ids = Ids(DistributionOf(p, logits));
    const std::set<int32_t> want = ReferenceTopP(logits, top_p);
    // The same set up to a token at the boundary, where float and double
    // running sums may round differently.
    std::set<int32_t> got(ids.begin(), ids.end());
    EXPECT_LE(std::max(got.size(), want.size()) - std::min(got.size(), want.size()), 1u);
    EXPECT_TRUE(std::includes(got.begin(), got.end(), want.begin(), want.end()) ||
                std::includes(want.begin(), want.end(), got.begin(), got.end()))
        << top_p;
    EXPECT_GT(got.size(), 64u) << top_p;
  }
}

TEST(MinP, CutsRelativeToTheBestToken) {
  // Probabilities relative to the best: 1, 0.5, 0.2, 0.09, 0.01.
  const std::vector<float> logits = LogitsOf({0.2, 1.0, 0.01, 0.5, 0.09});
  SamplingParams p = Random();
  p.min_p = 0.1f;
  EXPECT_EQ(Ids(DistributionOf(p, logits)), (std::vector<int32_t>{0, 1, 3}));
  p.min_p = 0.3f;
  EXPECT_EQ(Ids(DistributionOf(p, logits)), (std::vector<int32_t>{1, 3}));
  Sampler sampler(p);
  const std::vector<int> counts = Draw(sampler, logits, 5000);
  EXPECT_EQ(counts[0] + counts[2] + counts[4], 0);
  // min_p >= 1 keeps the best token (and exact ties with it).
  for (float min_p : {1.0f, 1.5f}) {
    p.min_p = min_p;
    EXPECT_EQ(Ids(DistributionOf(p, logits)), (std::vector<int32_t>{1})) << min_p;
    EXPECT_EQ(Ids(DistributionOf(p, {2.0f, 1.0f, 2.0f})), (std::vector<int32_t>{0, 2}));
  }
}

TEST(MinP, ScalesWithTemperature) {
  // At T = 2 the relative probability of a token 2 nats below the best is
  // e^-1 ~ 0.37; at T = 1 it is e^-2 ~ 0.14.
  SamplingParams p = Random(2.0f);
  p.min_p = 0.2f;
  EXPECT_EQ(Ids(DistributionOf(p, {0.0f, -2.0f})), (std::vector<int32_t>{0, 1}));
  p.temperature = 1.0f;
  EXPECT_EQ(Ids(DistributionOf(p, {0.0f, -2.0f})), (std::vector<int32_t>{0}));
}

TEST(Filters, ApplyInOrderTopKThenTopPThenMinP) {
  const std::vector<float> logits = LogitsOf({0.4, 0.3, 0.2, 0.1});
  SamplingParams p = Random();
  p.top_p = 0.5f;
  // Alone, top-p needs 0.4 + 0.3 to reach 0.5.
  EXPECT_EQ(Ids(DistributionOf(p, logits)), (std::vector<int32_t>{0, 1}));
  // After top-k = 2 the first token holds 0.4 / 0.7 = 0.57 >= 0.5 alone.
  p.top_k = 2;
  EXPECT_EQ(Ids(DistributionOf(p, logits)), (std::vector<int32_t>{0}));
  // Min-p after top-p: top-p keeps {0, 1, 2}; min-p 0.6 keeps p >= 0.24.
  p.top_k = 0;
  p.top_p = 0.85f;
  p.min_p = 0.6f;
  EXPECT_EQ(Ids(DistributionOf(p, logits)), (std::vector<int32_t>{0, 1}));
  // Min-p looser than top-p: top-p decides.
  p.min_p = 0.2f;
  EXPECT_EQ(Ids(DistributionOf(p, logits)), (std::vector<int32_t>{0, 1, 2}));
}

TEST(Sampler, SameSeedSameTokensDifferentSeedsDiffer) {
  const std::vector<float> logits(1000, 0.0f);
  SamplingParams p = Random();
  p.seed = 42;
  Sampler a(p), b(p);
  std::vector<int32_t> first, second;
  for (int i = 0; i < 200; ++i) {
    std::vector<float> x = logits, y = logits;
    first.push_back(a.Sample(x.data(), 1000, {}));
    second.push_back(b.Sample(y.data(), 1000, {}));
  }
  EXPECT_EQ(first, second);

  // Reseed restarts the stream.
  a.Reseed(42);
  std::vector<int32_t> again;
  for (int i = 0; i < 200; ++i) {
    std::vector<float> x = logits;
    again.push_back(a.Sample(x.data(), 1000, {}));
  }
  EXPECT_EQ(again, first);

  // Another seed: 200 draws from 1000 tokens agree by chance with
  // probability 1e-600.
  a.Reseed(43);
  std::vector<int32_t> other;
  for (int i = 0; i < 200; ++i) {
    std::vector<float> x = logits;
    other.push_back(a.Sample(x.data(), 1000, {}));
  }
  EXPECT_NE(other, first);
}

TEST(Sampler, DrawsArePinned) {
  // Eight equal logits give weights of exactly 1, so the draw is
  // floor(8 * u) with u = (next >> 11) / 2^53 from the pinned stream of
  // seed 0xC0FFEE (computed in Python). A platform that disagrees breaks
  // "same seed, same output".
  Sampler sampler(Random());
  std::vector<int32_t> got;
  for (int i = 0; i < 3; ++i) {
    std::vector<float> logits(8, 0.0f);
    got.push_back(sampler.Sample(logits.data(), 8, {}));
  }
  // 0x120E99A6DDE4A550 -> 0.0705..., 0x8F98... -> 0.5609..., 0xF0A2... -> 0.9399...
  EXPECT_EQ(got, (std::vector<int32_t>{0, 4, 7}));
}

TEST(Sampler, NonFiniteLogitsNeverEscapeTheVocabulary) {
  Sampler sampler(Random());
  // NaN and -inf are never drawn.
  const std::vector<float> mixed = {kNaN, 0.0f, -kInf, 0.5f, kNaN};
  const std::vector<int> counts = Draw(sampler, mixed, 2000);
  EXPECT_EQ(counts[0] + counts[2] + counts[4], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[3], 0);
  // Nothing finite: a valid id all the same.
  EXPECT_EQ(Draw(sampler, {kNaN, kNaN, kNaN}, 10)[0], 10);
  EXPECT_EQ(Draw(sampler, {-kInf, -kInf}, 10)[0], 10);
  EXPECT_EQ(Draw(sampler, {kNaN, -kInf, kNaN}, 10)[1], 10);
  // +inf takes all the mass, shared among the +inf tokens.
  EXPECT_EQ(Draw(sampler, {1.0f, kInf, 3.0f}, 100)[1], 100);
  const std::vector<int> two = Draw(sampler, {kInf, 1.0f, kNaN, kInf}, 2000);
  EXPECT_EQ(two[0] + two[3], 2000);
  EXPECT_GT(two[0], 0);
  EXPECT_GT(two[3], 0);
}

TEST(Sampler, ExtremeTemperatures) {
  // Tiny: greedy in effect (no overflow to a tie of infinities).
  Sampler cold(Random(1e-30f));
  EXPECT_EQ(Draw(cold, {1.0f, 1.0001f, -5.0f}, 500)[1], 500);
  // Infinite: uniform over the finite logits.
  const std::vector<TokenProb> dist = DistributionOf(Random(kInf), {1.0f, -kInf, 100.0f, kNaN});
  ASSERT_EQ(Ids(dist), (std::vector<int32_t>{0, 2}));
  EXPECT_FLOAT_EQ(dist[0].prob, 0.5f);
}

TEST(Sampler, RejectsAnEmptyVocabulary) {
  Sampler sampler(Random());
  float logit = 0.0f;
  EXPECT_THROW(sampler.Sample(&logit, 0, {}), Error);
  EXPECT_THROW(sampler.Sample(nullptr, 4, {}), Error);
}

TEST(Sampler, DrawsStayInsideTheDistributionOnRandomLogits) {
  // Property check over many parameter mixes: probabilities sum to 1, ids
  // ascend, and Sample only returns ids Distribution lists.
  Rng rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    const int vocab = 1 + static_cast<int>(rng.Next() % 300);
    std::vector<float> logits(vocab);
    for (float& l : logits) l = static_cast<float>((rng.Uniform() - 0.5) * 20);
    SamplingParams p;
    p.temperature = static_cast<float>(rng.Uniform() * 2);
    p.top_k = static_cast<int>(rng.Next() % 50);
    p.top_p = static_cast<float>(rng.Uniform() * 1.2);
    p.min_p = static_cast<float>(rng.Uniform() * 0.3);
    p.seed = rng.Next();
    const std::vector<TokenProb> dist = DistributionOf(p, logits);
    ASSERT_FALSE(dist.empty());
    double total = 0;
    for (size_t i = 0; i < dist.size(); ++i) {
      total += dist[i].prob;
      if (i > 0) {
        ASSERT_LT(dist[i - 1].id, dist[i].id);
      }
    }
    EXPECT_NEAR(total, 1.0, 1e-5);
    if (p.top_k > 0) {
      EXPECT_LE(dist.size(), static_cast<size_t>(p.top_k));
    }
    const std::vector<int32_t> ids = Ids(dist);
    const std::set<int32_t> allowed(ids.begin(), ids.end());
    Sampler sampler(p);
    for (int i = 0; i < 20; ++i) {
      std::vector<float> copy = logits;
      ASSERT_TRUE(allowed.count(sampler.Sample(copy.data(), vocab, {})));
    }
  }
}

TEST(Sampler, FullGemmaVocabulary) {
  // 262,144 logits, the Gemma 3 vocabulary: top-k and top-p must pick from
  // the true best tokens, and a sample must take milliseconds, not a sort.
  constexpr int32_t kVocab = 262144;
  Rng rng(3);
  std::vector<float> logits(kVocab);
  for (float& l : logits) l = static_cast<float>(rng.Uniform() * 10 - 5);
  logits[123456] = 20.0f;
  logits[7] = 19.0f;
  SamplingParams p = Random(0.8f);
  p.top_k = 40;
  EXPECT_EQ(Ids(DistributionOf(p, logits)), ReferenceTopK(logits, 40));
  p.top_p = 0.95f;
  Sampler sampler(p);
  const auto start = std::chrono::steady_clock::now();
  constexpr int kDraws = 20;
  for (int i = 0; i < kDraws; ++i) {
    std::vector<float> copy = logits;
    const int32_t id = sampler.Sample(copy.data(), kVocab, {});
    EXPECT_TRUE(id == 123456 || id == 7) << id;
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() /
      kDraws;
  RecordProperty("ms_per_sample", std::to_string(ms));

  // Top-p alone over a flat tail: the nucleus holds many thousands of tokens.
  SamplingParams q = Random(1.0f);
  q.top_p = 0.9f;
  Sampler flat(q);
  std::vector<float> copy = logits;
  copy[123456] = copy[7] = 0.0f;
  const int32_t id = flat.Sample(copy.data(), kVocab, {});
  EXPECT_GE(id, 0);
  EXPECT_LT(id, kVocab);
}

}  // namespace
}  // namespace gemma
