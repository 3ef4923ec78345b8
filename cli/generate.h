// Generating an answer in the terminal: streamed to stdout, stopped by
// Ctrl-C, timed (prompt and answer tokens per second), and optionally with
// the rendered prompt shown first (--verbose-prompt).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gemma/gemma.h"

namespace gemma::cli {

struct TurnStats {
  int prompt_tokens = 0;
  double prompt_seconds = 0;
  int answer_tokens = 0;
  double answer_seconds = 0;
  bool interrupted = false;  // Ctrl-C stopped the answer
  int context_used = 0, context_size = 0;
};

// One chat turn. Prints the answer as it comes; returns it whole.
Result<std::string> ChatTurn(Model& model, Chat& chat, std::string_view message,
                             const GenerateOptions& options, bool show_prompt, TurnStats& stats);

// Plain completion (no turn format): the prompt plus one BOS, as Complete().
Result<std::string> RawCompletion(Model& model, std::string_view prompt,
                                  const GenerateOptions& options, bool show_prompt,
                                  TurnStats& stats);

// "prompt: 12 tokens, 240.5 tokens/s; answer: 64 tokens, 25.1 tokens/s" on
// stderr; verbose adds the times, the context used and the peak RSS.
void PrintTurnStats(const TurnStats& stats, bool verbose);

// Token ids as text with control tokens spelled out ("<start_of_turn>user\n
// Hi<end_of_turn>"), for --verbose-prompt.
std::string RenderTokens(const Model& model, const std::vector<int32_t>& ids);

// The process's peak resident set so far, in bytes (getrusage).
size_t PeakResidentBytes();
// The process's resident set now, in bytes (/proc/self/statm; 0 if unknown).
size_t CurrentResidentBytes();

}  // namespace gemma::cli
