// Bounds the engine puts on what callers ask for: how many threads a model
// gets, how many tokens a generation may produce, which sampling parameters
// make sense. The logic lives here so the engine's call sites stay one line.
#pragma once

#include <string>

#include "gemma/sampling.h"

namespace gemma {

// CPUs this process may run on (its affinity mask), at least 1.
int UsableCpuCount();

struct ThreadChoice {
  int threads = 1;
  std::string warning;  // set when the request was capped
};

// `requested` threads (0 or less: one per usable CPU), capped at the usable
// CPU count: the pool's workers spin while they wait, so more threads than
// CPUs only take turns (`-t 1000` on two cores ran for minutes).
ThreadChoice ChooseThreadCount(int requested);

// How many new tokens a generation may produce with `room` free context
// slots: max_tokens < 0 means "until the end of the turn or the context".
int MaxNewTokens(int max_tokens, int room);

}  // namespace gemma
