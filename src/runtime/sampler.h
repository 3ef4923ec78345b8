// Token sampler: turns one row of logits into a token id using the knobs in
// include/gemma/sampling.h. The chain, in order: repetition / presence /
// frequency penalties over the recent tokens -> greedy argmax (temperature
// <= 0) or temperature -> top-k -> top-p -> min-p -> a draw from a seeded
// PRNG. Draws are reproducible: the PRNG is our own (not a <random> engine or
// distribution, whose outputs differ between standard libraries), ties are
// broken by id so every filter keeps a well-defined set, top-p sums its mass
// in fixed point, and the draw walks the survivors in id order, so the
// arrangement std::nth_element happens to leave never changes the result.
// (What remains platform-dependent is std::exp's last bit, which can move a
// draw only when it lands within rounding of a boundary.)
//
// Cost for a 262k vocabulary: top-k streams the logits through a k-element
// heap (no exp() for the rest); top-p and min-p without top-k compute every
// weight and select by mass, expected linear time; nothing sorts the whole
// vocabulary.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "gemma/sampling.h"

namespace gemma {

// xoshiro256** (Blackman & Vigna) with its state expanded from a 64-bit seed
// by splitmix64, as its authors recommend. Small, fast, and bit-identical on
// every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) { Seed(seed); }
  void Seed(uint64_t seed);
  uint64_t Next();
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t s_[4];
};

// One token of the distribution a Sampler draws from.
struct TokenProb {
  int32_t id;
  float prob;
};

// Applies the repetition, presence and frequency penalties of `params` in
// place to the logits of tokens among the last penalty_last_n entries of
// `recent_tokens` (penalty_last_n < 0: all of them; 0: none). A token seen c
// times gets: logit / repetition_penalty if positive, * repetition_penalty
// otherwise (as llama.cpp and Hugging Face do), then - presence_penalty -
// c * frequency_penalty. Ids outside [0, vocab_size) are ignored, and so are
// non-finite or non-positive repetition penalties and non-finite additive
// ones (a bad knob must not turn every logit into NaN).
void ApplyPenalties(const SamplingParams& params, float* logits, int32_t vocab_size,
                    std::span<const int32_t> recent_tokens);

// Index of the largest logit; ties go to the lowest id and NaNs are skipped
// (0 if every value is NaN). vocab_size must be > 0.
int32_t ArgMax(const float* logits, int32_t vocab_size);

// out[i] = log softmax(logits / temperature)[i], computed max-subtracted in
// double. temperature must be > 0. NaN logits get -inf; if the maximum is
// +inf, the +inf entries share the mass. out may alias logits.
void LogSoftmax(const float* logits, int32_t vocab_size, float temperature, float* out);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  const SamplingParams& params() const { return params_; }
  // Restarts the random stream; the constructor seeds with params.seed.
  void Reseed(uint64_t seed) { rng_.Seed(seed); }

  // Samples one id in [0, vocab_size). The penalties are applied to `logits`
  // in place (callers pass a scratch copy). NaN logits are never chosen
  // unless all are NaN (then 0); +inf logits, if any, share all the mass.
  // Throws gemma::Error if vocab_size <= 0 or logits is null.
  int32_t Sample(float* logits, int32_t vocab_size, std::span<const int32_t> recent_tokens);

  // The distribution Sample would draw from after penalties and filters
  // (applied to `logits` in place as in Sample), ids ascending, probabilities
  // summing to 1; tokens whose probability underflows to 0 are left out. For
  // greedy decoding it is the argmax with probability 1. Draws nothing.
  std::vector<TokenProb> Distribution(float* logits, int32_t vocab_size,
                                      std::span<const int32_t> recent_tokens);

 private:
  // A token that may still be drawn: its logit after penalties and its
  // weight exp((logit - max) / temperature), which is 1 for the best token.
  struct Candidate {
    float logit;
    int32_t id;
    float w;
  };

  // Applies penalties, temperature and the filters; leaves the survivors in
  // cands_ in ascending id order and returns -1, or returns the id to emit
  // directly (greedy decoding, or no finite logit at all).
  int32_t Filter(float* logits, int32_t vocab_size, std::span<const int32_t> recent_tokens);
  // Keeps the candidates that are `boundary` or better, in id order.
  void KeepAtLeastAsGoodAs(const Candidate& boundary);
  // Fills cands_ with the k best finite logits, in id order (w unset).
  void SelectTopK(const float* logits, int32_t vocab_size, int k);
  // Keeps the smallest best-first prefix whose mass reaches top_p of
  // top_k_mass (weights counted in fixed point as w * mass_scale).
  void KeepTopP(double top_p, uint64_t top_k_mass, double mass_scale);

  SamplingParams params_;
  Rng rng_;
  // Reused between calls so that a 262k vocabulary does not allocate per token.
  std::vector<Candidate> cands_;
  std::vector<Candidate> scratch_;
};

}  // namespace gemma
