#include "runtime/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "base/error.h"
#include "kernels/ops.h"

namespace gemma {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

uint64_t SplitMix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

void Rng::Seed(uint64_t seed) {
  // splitmix64 never yields four zero words in a row, so the xoshiro state
  // is never the all-zero fixed point.
  for (uint64_t& word : s_) word = SplitMix64(seed);
}

uint64_t Rng::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

void ApplyPenalties(const SamplingParams& params, float* logits, int32_t vocab_size,
                    std::span<const int32_t> recent_tokens) {
  const float rep = params.repetition_penalty;
  const bool use_rep = std::isfinite(rep) && rep > 0.0f && rep != 1.0f;
  const bool use_presence =
      std::isfinite(params.presence_penalty) && params.presence_penalty != 0.0f;
  const bool use_frequency =
      std::isfinite(params.frequency_penalty) && params.frequency_penalty != 0.0f;
  if (!use_rep && !use_presence && !use_frequency) return;
  if (params.penalty_last_n == 0 || recent_tokens.empty()) return;

  size_t n = recent_tokens.size();
  if (params.penalty_last_n > 0) n = std::min(n, static_cast<size_t>(params.penalty_last_n));
  // Counting by sorting the window keeps this O(n log n) in the window and
  // independent of the vocabulary size (no 262k-entry count table per token).
  std::vector<int32_t> ids;
  ids.reserve(n);
  for (int32_t id : recent_tokens.last(n)) {
    if (id >= 0 && id < vocab_size) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j < ids.size() && ids[j] == ids[i]) ++j;
    const float count = static_cast<float>(j - i);
    float& logit = logits[ids[i]];
    if (use_rep) logit = logit > 0.0f ? logit / rep : logit * rep;
    if (use_presence) logit -= params.presence_penalty;
    if (use_frequency) logit -= count * params.frequency_penalty;
    i = j;
  }
}

// The first id of the largest non-NaN value, vectorized (kernels/ops.h): the
// scalar scan, a compare and branch per id, was ~2% of an eight-stream server
// step on 262144 ids (serial on the engine thread while the pool waited).
int32_t ArgMax(const float* logits, int32_t vocab_size) {
  return static_cast<int32_t>(ArgMaxF32(logits, vocab_size));
}

void LogSoftmax(const float* logits, int32_t vocab_size, float temperature, float* out) {
  float max = -kInf;
  int32_t at_max = 0;
  for (int32_t i = 0; i < vocab_size; ++i) {
    if (logits[i] > max) {
      max = logits[i];
      at_max = 0;
    }
    if (logits[i] == max) ++at_max;
  }
  if (std::isinf(max)) {
    // exp(x - max) is undefined here; the limit of softmax as those entries
    // grow (or, for all -inf, a uniform over them) shares the mass evenly.
    const float share = static_cast<float>(-std::log(static_cast<double>(std::max(at_max, 1))));
    for (int32_t i = 0; i < vocab_size; ++i) out[i] = logits[i] == max ? share : -kInf;
    return;
  }
  const double t = temperature;
  double sum = 0.0;
  for (int32_t i = 0; i < vocab_size; ++i) {
    if (!std::isnan(logits[i])) sum += std::exp((static_cast<double>(logits[i]) - max) / t);
  }
  const double log_sum = std::log(sum);
  for (int32_t i = 0; i < vocab_size; ++i) {
    out[i] = std::isnan(logits[i])
                 ? -kInf
                 : static_cast<float>((static_cast<double>(logits[i]) - max) / t - log_sum);
  }
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

namespace {

// A strict total order (logit descending, then id ascending), so that "the k
// best" and "the smallest prefix" are unique sets even with tied logits, and
// the same on every standard library.
template <typename C>
bool Better(const C& a, const C& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// Up to this k, top-k streams the logits through a k-element heap; beyond
// it, a selection over all candidates is cheaper.
constexpr int kHeapTopK = 4096;

}  // namespace

void Sampler::KeepAtLeastAsGoodAs(const Candidate& boundary) {
  // std::erase_if is stable, so cands_ stays in id order.
  std::erase_if(cands_, [&](const Candidate& c) { return Better(boundary, c); });
}

void Sampler::SelectTopK(const float* logits, int32_t vocab_size, int k) {
  // The heap's front is the worst token kept. Most logits lose to it on a
  // single comparison, so this is one pass over the vocabulary and no exp()
  // for the tokens top-k throws away. Ids arrive in ascending order, so a
  // tie with the front never displaces it (Better prefers the lower id).
  const auto better = [](const Candidate& a, const Candidate& b) { return Better(a, b); };
  cands_.clear();
  for (int32_t i = 0; i < vocab_size; ++i) {
    const float logit = logits[i];
    if (!(logit > -kInf)) continue;
    if (cands_.size() < static_cast<size_t>(k)) {
      cands_.push_back({logit, i, 0.0f});
      std::push_heap(cands_.begin(), cands_.end(), better);
    } else if (logit > cands_.front().logit) {
      std::pop_heap(cands_.begin(), cands_.end(), better);
      cands_.back() = {logit, i, 0.0f};
      std::push_heap(cands_.begin(), cands_.end(), better);
    }
  }
  std::sort(cands_.begin(), cands_.end(),
            [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
}

void Sampler::KeepTopP(double top_p, uint64_t top_k_mass, double mass_scale) {
  // Top-p by selection on mass instead of a sort: halve the range holding
  // the boundary token until it is small, then sort only that. Expected
  // O(n) even when the nucleus holds most of a flat 262k vocabulary.
  const auto better = [](const Candidate& a, const Candidate& b) { return Better(a, b); };
  const auto mass_of = [&](const Candidate& c) {
    return static_cast<uint64_t>(static_cast<double>(c.w) * mass_scale + 0.5);
  };
  const uint64_t target = std::min(
      top_k_mass, static_cast<uint64_t>(std::ceil(top_p * static_cast<double>(top_k_mass))));
  scratch_.assign(cands_.begin(), cands_.end());
  const auto first = scratch_.begin();
  size_t lo = 0, hi = scratch_.size();
  uint64_t mass = 0;  // of the tokens better than every token in [lo, hi)
  while (hi - lo > 64) {
    const size_t mid = lo + (hi - lo) / 2;
    std::nth_element(first + lo, first + mid, first + hi, better);
    uint64_t upper = 0;
    for (size_t i = lo; i < mid; ++i) upper += mass_of(scratch_[i]);
    if (mass + upper >= target) {
      hi = mid;
    } else {
      mass += upper;
      lo = mid;
    }
  }
  std::sort(first + lo, first + hi, better);
  for (size_t i = lo; i < hi; ++i) {
    mass += mass_of(scratch_[i]);
    if (mass >= target) {
      KeepAtLeastAsGoodAs(scratch_[i]);
      return;
    }
  }
  // Min-p already cut below the nucleus: every candidate stays.
}

int32_t Sampler::Filter(float* logits, int32_t vocab_size, std::span<const int32_t> recent_tokens) {
  if (logits == nullptr || vocab_size <= 0) {
    Fail("Sampler: need logits for a vocabulary of at least one token, got ", vocab_size);
  }
  ApplyPenalties(params_, logits, vocab_size, recent_tokens);
  const float temperature = params_.temperature;
  // Written so that a NaN temperature also means greedy.
  if (!(temperature > 0.0f)) return ArgMax(logits, vocab_size);

  float max = -kInf;
  for (int32_t i = 0; i < vocab_size; ++i) max = std::max(max, logits[i]);  // skips NaN
  if (max == -kInf) return ArgMax(logits, vocab_size);  // no finite logit to weigh

  // Weights relative to the best token: w = exp((logit - max) / T), so the
  // best has w = 1 exactly and nothing overflows however small T is. Tokens
  // whose weight underflows to 0 can never be drawn and cannot change any
  // filter below (they trail the order, and top-p and min-p only look at
  // mass), so they are dropped; at low temperature that is most of them.
  const int top_k = params_.top_k;
  const auto weigh = [&](float logit) { return std::exp((logit - max) / temperature); };
  bool top_k_done = false;
  if (max == kInf) {
    // Infinite logits take all the mass, shared evenly (the limit of
    // softmax); the order among them is by id.
    cands_.clear();
    for (int32_t i = 0; i < vocab_size; ++i) {
      if (logits[i] == kInf) cands_.push_back({kInf, i, 1.0f});
    }
  } else if (top_k > 0 && top_k <= kHeapTopK) {
    SelectTopK(logits, vocab_size, top_k);
    for (Candidate& c : cands_) c.w = weigh(c.logit);
    std::erase_if(cands_, [](const Candidate& c) { return c.w == 0.0f; });
    top_k_done = true;
  } else {
    cands_.clear();
    for (int32_t i = 0; i < vocab_size; ++i) {
      const float logit = logits[i];
      if (!(logit > -kInf)) continue;  // -inf and NaN; also avoids -inf / inf
      const float w = weigh(logit);
      if (w > 0.0f) cands_.push_back({logit, i, w});
    }
  }
  if (!top_k_done && top_k > 0 && static_cast<size_t>(top_k) < cands_.size()) {
    // Large k: find the k-th best by linear-time selection, not a sort.
    scratch_.assign(cands_.begin(), cands_.end());
    std::nth_element(scratch_.begin(), scratch_.begin() + (top_k - 1), scratch_.end(),
                     [](const Candidate& a, const Candidate& b) { return Better(a, b); });
    KeepAtLeastAsGoodAs(scratch_[top_k - 1]);
  }

  // Top-p measures mass against the distribution top-k left, renormalized.
  // It counts in fixed point: integer sums are exact, so which token ends
  // the nucleus cannot depend on the order a selection algorithm leaves the
  // weights in. Each weight is at most 1, so n * scale stays below 2^62.
  const float top_p = params_.top_p;
  const bool use_top_p = top_p < 1.0f;  // NaN: off
  const double mass_scale = std::ldexp(1.0, 62 - std::bit_width(cands_.size()));
  uint64_t top_k_mass = 0;
  if (use_top_p) {
    for (const Candidate& c : cands_) {
      top_k_mass += static_cast<uint64_t>(static_cast<double>(c.w) * mass_scale + 0.5);
    }
  }

  // Min-p: p >= min_p * p_max is w >= min_p since the best has w = 1, and
  // capping at 1 keeps the best token when min_p >= 1. Top-p and min-p each
  // keep a prefix of the same order, so applying min-p before top-p (with
  // top-p still measured against top_k_mass) keeps the shorter prefix: the
  // same set as top-p then min-p, with less to select from.
  const float min_p = params_.min_p;
  if (min_p > 0.0f) {
    const float threshold = std::min(min_p, 1.0f);
    std::erase_if(cands_, [&](const Candidate& c) { return c.w < threshold; });
  }

  if (use_top_p) {
    if (top_p > 0.0f) {
      KeepTopP(top_p, top_k_mass, mass_scale);
    } else {
      const auto best =
          std::min_element(cands_.begin(), cands_.end(),
                           [](const Candidate& a, const Candidate& b) { return Better(a, b); });
      KeepAtLeastAsGoodAs(*best);
    }
  }
  return -1;
}

int32_t Sampler::Sample(float* logits, int32_t vocab_size, std::span<const int32_t> recent_tokens) {
  const int32_t direct = Filter(logits, vocab_size, recent_tokens);
  if (direct >= 0) return direct;
  // Inverse-CDF draw in id order: the result depends only on the surviving
  // set and the PRNG, not on how the selection algorithms arranged things.
  double total = 0.0;
  for (const Candidate& c : cands_) total += c.w;
  const double u = rng_.Uniform() * total;
  double mass = 0.0;
  for (const Candidate& c : cands_) {
    mass += c.w;
    if (u < mass) return c.id;
  }
  return cands_.back().id;  // u rounded up to total; every survivor has w > 0
}

std::vector<TokenProb> Sampler::Distribution(float* logits, int32_t vocab_size,
                                             std::span<const int32_t> recent_tokens) {
  const int32_t direct = Filter(logits, vocab_size, recent_tokens);
  if (direct >= 0) return {{direct, 1.0f}};
  double total = 0.0;
  for (const Candidate& c : cands_) total += c.w;
  std::vector<TokenProb> out;
  out.reserve(cands_.size());
  for (const Candidate& c : cands_) out.push_back({c.id, static_cast<float>(c.w / total)});
  return out;
}

}  // namespace gemma
