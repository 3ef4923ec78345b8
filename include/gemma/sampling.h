// Sampling parameters for generation. Defaults give greedy decoding.
#pragma once

#include <cstdint>

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

}  // namespace gemma
