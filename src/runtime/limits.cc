#include "runtime/limits.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <thread>

namespace gemma {

int UsableCpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

ThreadChoice ChooseThreadCount(int requested) {
  const int cpus = UsableCpuCount();
  ThreadChoice choice;
  choice.threads = requested > 0 ? std::min(requested, cpus) : cpus;
  if (requested > cpus) {
    choice.warning = std::to_string(requested) + " threads requested; using " +
                     std::to_string(cpus) + ", the CPUs this process can run on";
  }
  return choice;
}

int MaxNewTokens(int max_tokens, int room) {
  return max_tokens < 0 ? std::max(room, 0) : max_tokens;
}

namespace {

Status Invalid(const std::string& name, float value, const std::string& allowed) {
  std::string shown = std::isnan(value) ? "NaN" : std::to_string(value);
  // std::to_string prints six decimals; drop the zeros it pads with.
  if (shown.find('.') != std::string::npos) {
    while (shown.back() == '0') shown.pop_back();
    if (shown.back() == '.') shown.pop_back();
  }
  return Status::Error(name + " " + shown + " is invalid: " + allowed);
}

}  // namespace

Status ValidateSamplingParams(const SamplingParams& p) {
  // !(x >= lo) rather than x < lo: NaN fails every comparison.
  if (!(p.temperature >= 0) || !std::isfinite(p.temperature)) {
    return Invalid("temperature", p.temperature, "it must be 0 (greedy) or more");
  }
  if (p.top_k < 0) {
    return Status::Error("top_k " + std::to_string(p.top_k) +
                         " is invalid: it must be 0 (off) or more");
  }
  if (!(p.top_p >= 0 && p.top_p <= 1)) {
    return Invalid("top_p", p.top_p, "it must be between 0 and 1 (1: off)");
  }
  if (!(p.min_p >= 0 && p.min_p <= 1)) {
    return Invalid("min_p", p.min_p, "it must be between 0 (off) and 1");
  }
  if (!(p.repetition_penalty > 0) || !std::isfinite(p.repetition_penalty)) {
    return Invalid("repetition_penalty", p.repetition_penalty,
                   "it must be more than 0 (1: off; above 1 discourages repeats)");
  }
  if (!(p.presence_penalty >= -2 && p.presence_penalty <= 2)) {
    return Invalid("presence_penalty", p.presence_penalty, "it must be between -2 and 2 (0: off)");
  }
  if (!(p.frequency_penalty >= -2 && p.frequency_penalty <= 2)) {
    return Invalid("frequency_penalty", p.frequency_penalty,
                   "it must be between -2 and 2 (0: off)");
  }
  if (p.penalty_last_n < -1) {
    return Status::Error("penalty_last_n " + std::to_string(p.penalty_last_n) +
                         " is invalid: it must be -1 (the whole context), 0 (off) or more");
  }
  return Status();
}

}  // namespace gemma
