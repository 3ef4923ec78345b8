// Many requests at once over one model: continuous batching. One engine
// thread owns the forward pass; each step it feeds one token of every request
// that is generating, and fills the rest of its rows with prompt chunks of
// requests still reading theirs, so the weights are read once per step for all
// of them. Prompts that begin with tokens the engine still holds (a shared
// system prompt, the earlier turns of a chat) reuse those keys and values.
//
//   auto engine = gemma::Engine::Start(model, {.parallel = 8});
//   gemma::Request r;
//   r.prompt = model.Tokenize("...", true);
//   (*engine)->Submit(std::move(r), {.on_token = ..., .on_done = ...});
//
// Callbacks run on the engine thread: they must be quick and must not call
// back into the engine except Cancel.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gemma/gemma.h"
#include "gemma/sampling.h"
#include "gemma/status.h"

namespace gemma {

// Restricts which tokens may come next (structured output, forced tool
// calls). The engine asks Allows() for the token it would pick, and only
// when that is refused masks the whole distribution and picks again.
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  virtual bool Allows(int32_t token) = 0;
  // Sets the logits of every token not allowed next to -infinity.
  virtual void Mask(std::span<float> logits) = 0;
  // Advances past a token that Allows() accepted.
  virtual void Accept(int32_t token) = 0;
};

struct Request {
  std::vector<int32_t> prompt;  // rendered and tokenized by the caller, BOS included
  SamplingParams sampling;
  int max_tokens = -1;  // -1: until an end token or the context is full
  // Tokens that end the answer besides the model's own end-of-generation ids.
  std::vector<int32_t> stop_tokens;
  bool ignore_eos = false;  // keep going past end-of-generation ids (benchmarks)
  int top_logprobs = -1;  // -1: no log-probabilities; 0..20: the chosen token's and this many more
  // Added to these tokens' logits before sampling (OpenAI's logit_bias; -100
  // bans a token). Log-probabilities stay the model's own.
  std::vector<std::pair<int32_t, float>> logit_bias;
  std::shared_ptr<TokenConstraint> constraint;
};

enum class FinishReason { kStop, kLength, kCancelled, kError };
const char* FinishReasonName(FinishReason reason);  // "stop", "length", ...

struct TokenEvent {
  int32_t token = 0;
  float logprob = 0;  // of the chosen token under the model's distribution (top_logprobs >= 0)
  std::vector<std::pair<int32_t, float>> top;  // (token, logprob), most likely first
};

struct Completion {
  FinishReason reason = FinishReason::kStop;
  Status status;  // why, when reason is kError
  int prompt_tokens = 0;
  int cached_tokens = 0;  // prompt tokens whose keys and values were reused
  int generated_tokens = 0;
  double queued_seconds = 0;   // from Submit to the first step that ran it
  double prefill_seconds = 0;  // from then to the first token
  double decode_seconds = 0;   // from the first token to the end
};

struct RequestCallbacks {
  // Each generated token (not end tokens); return false to stop (the request
  // then ends with FinishReason::kCancelled, or kStop if `stopped` was set).
  std::function<bool(const TokenEvent&)> on_token;
  // Once, at the end (also after Cancel, and for requests never started).
  std::function<void(const Completion&)> on_done;
};

struct EngineOptions {
  int max_waiting = 256;  // requests queued beyond the running ones; more are refused
  // Prompt positions one step may run while other requests are generating:
  // smaller keeps their inter-token latency low, larger finishes prompts sooner.
  // 32: on Gemma 3 1B Q4_0 with 8 streams on 2 cores, p99 inter-token latency
  // 163 ms against 220 at 64, time to first token p99 1.6 s against 1.4, the
  // same tokens/s (docs/server.md).
  int prefill_chunk = 32;
};

struct EngineStats {
  int running = 0, waiting = 0;
  int64_t requests_total = 0, prompt_tokens_total = 0, generated_tokens_total = 0;
  int64_t prefix_queries_total = 0, cached_tokens_total = 0;
  int64_t steps_total = 0;
  double kv_used_fraction = 0;  // blocks of the global layers in use
  int parallel = 0;
  int context_length = 0;
};

class Engine {
 public:
  // The model must outlive the engine; it serves ModelOptions::parallel
  // requests at once (open the model with the prefix cache for a server).
  static Result<std::unique_ptr<Engine>> Start(Model& model, const EngineOptions& options = {});
  ~Engine();  // stops the thread; requests still running end as cancelled

  // Queues a request. Errors: kOutOfRange for a prompt longer than the
  // context, kInvalidArgument for a bad request, kResourceExhausted when the
  // queue is full, kUnavailable after Shutdown. On error no callback runs.
  Result<uint64_t> Submit(Request request, RequestCallbacks callbacks);
  // Ends a request within one step (its on_done reports kCancelled). Safe
  // from any thread, also for requests that already ended.
  void Cancel(uint64_t id);
  // Refuses new requests, cancels the rest and joins the engine thread.
  void Shutdown();

  EngineStats stats() const;

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Mean-pooled, L2-normalised final hidden state of `tokens` (after the final
// norm): a sentence embedding from a decoder model. Thread-safe against the
// engine (it takes turns with it).
Result<std::vector<float>> Embed(Model& model, std::span<const int32_t> tokens);

// Complete UTF-8 text of generated tokens, as they come: holds back the bytes
// of a character split across tokens.
class TextStream {
 public:
  explicit TextStream(const Model& model);
  ~TextStream();
  std::string Push(int32_t token);
  std::string Flush();
  // The bytes of one token alone, as the tokenizer decodes it (logprobs).
  static std::string TokenText(const Model& model, int32_t token);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gemma
