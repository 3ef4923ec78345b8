// Sampling parameters for generation. Defaults give greedy decoding.
#pragma once

#include <cstdint>

#include "gemma/status.h"

namespace gemma {

struct SamplingParams {
  float temperature = 0.0f;         // <= 0: greedy (argmax)
  int top_k = 0;                    // 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off; keep tokens with p >= min_p * p_max
  float repetition_penalty = 1.0f;  // 1: off; divides positive logits, multiplies negative ones
  float presence_penalty = 0.0f;    // 0: off; subtracted once per token already seen
  float frequency_penalty = 0.0f;   // 0: off; subtracted per occurrence
  int penalty_last_n = 64;          // window of recent tokens the penalties look at (-1: all)
  uint64_t seed = 0xC0FFEE;         // same seed, same output
};

// OK, or an invalid-argument Status naming the first parameter out of its
// range (in the units above): temperature >= 0; top_k >= 0; top_p and min_p in
// [0, 1]; repetition_penalty > 0; presence and frequency penalties in [-2, 2]
// (OpenAI's range); penalty_last_n >= -1. NaN and infinities are refused.
Status ValidateSamplingParams(const SamplingParams& params);

}  // namespace gemma
