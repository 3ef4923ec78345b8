// The continuous-batching engine (include/gemma/engine.h). One thread owns
// the forward pass. Each step:
//
//   1. ends cancelled requests and admits waiting ones while fewer than
//      `parallel` run (each takes the cached blocks of its longest known prefix);
//   2. builds one batch: a row for every request that is generating (the token
//      it sampled last), then prompt chunks of requests still reading theirs,
//      oldest first, up to batch_size rows (prefill_chunk while others decode);
//   3. runs it, commits the tokens to each sequence's memory, and samples the
//      next token of every request whose last row had logits.
//
// When the KV memory cannot take a request's rows, the most recently admitted
// request is preempted: its blocks go back (to the prefix cache) and it waits
// at the front of the queue with its tokens so far, to be prefilled again
// later. Nothing is truncated and nothing crashes; a request that cannot fit
// even alone ends with kResourceExhausted.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <thread>
#include <unordered_set>

#include "base/error.h"
#include "gemma/engine.h"
#include "model/batch.h"
#include "runtime/engine_impl.h"
#include "runtime/guard.h"
#include "runtime/sampler.h"

namespace gemma {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Job {
  uint64_t id = 0;
  uint64_t admitted = 0;  // admission order (for preemption)
  Request request;
  RequestCallbacks callbacks;
  SequenceKv seq;
  std::vector<int32_t> tokens;  // prompt + generated; seq holds tokens[0, seq.size())
  int prompt_tokens = 0;
  int generated = 0;
  int cached_tokens = -1;  // set at first admission
  Clock::time_point submitted, started, first_token;
  bool has_started = false, has_first_token = false;
  bool preempted = false;  // sent back to the queue during this step
};

}  // namespace

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kError:
      return "error";
  }
  return "error";
}

struct Engine::Impl {
  Impl(Model& model, const EngineOptions& options)
      : model(model), m(ModelInternals::Get(model)), options(options) {}

  Model& model;
  Model::Impl& m;
  EngineOptions options;
  std::thread thread;

  // Shared with the submitting threads, under `mu`.
  mutable std::mutex mu;
  std::condition_variable wake;
  std::deque<std::unique_ptr<Job>> waiting;
  std::unordered_set<uint64_t> cancelled;
  bool stopping = false;
  int running_count = 0;
  uint64_t next_id = 1;

  // Statistics, read by stats() from any thread.
  std::atomic<int64_t> requests_total{0}, prompt_tokens_total{0}, generated_tokens_total{0};
  std::atomic<int64_t> steps_total{0}, prefix_queries{0}, cached_tokens_total{0};
  std::atomic<double> kv_used{0};

  // The engine thread's own.
  std::vector<std::unique_ptr<Job>> running;
  uint64_t admissions = 0;
  std::vector<float> logits;          // [rows with logits, vocab]
  std::vector<HeadRowUse> head_uses;  // how each row of `logits` is read
  std::vector<float> scratch;

  void Loop();
  bool Step();
  void Admit();
  void Finish(std::unique_ptr<Job> job, FinishReason reason, Status status = Status());
  bool Preempt(const Job* needing, const Batch& batch);
  TokenEvent SampleNext(Job& job, float* row);
  // Ids below this are tokens; the model's rows past the tokenizer's
  // vocabulary are padding, never sampled.
  int RealVocab() const { return std::min(m.tokenizer->vocab_size(), m.spec.vocab_size); }
  void EndRunning(Job* job, FinishReason reason, Status status = Status());
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() { Shutdown(); }

Result<std::unique_ptr<Engine>> Engine::Start(Model& model, const EngineOptions& options) {
  if (options.max_waiting < 0 || options.prefill_chunk < 1) {
    return Status::Error("engine options: max_waiting must be >= 0 and prefill_chunk >= 1");
  }
  auto impl = std::make_unique<Impl>(model, options);
  Impl* raw = impl.get();
  std::unique_ptr<Engine> engine(new Engine(std::move(impl)));
  const Status status = Guarded([&] {
    raw->thread = std::thread([raw] { raw->Loop(); });
    return Status();
  });
  if (!status.ok()) return status;
  return engine;
}

void Engine::Shutdown() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping && !impl_->thread.joinable()) return;
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<uint64_t> Engine::Submit(Request request, RequestCallbacks callbacks) {
  Impl& e = *impl_;
  const int vocab = e.m.spec.vocab_size;
  if (request.prompt.empty()) return Status::Error("the prompt is empty");
  for (int32_t id : request.prompt) {
    if (id < 0 || id >= vocab) {
      return Status::Error("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                           std::to_string(vocab - 1) + ")");
    }
  }
  for (int32_t id : request.stop_tokens) {
    if (id < 0 || id >= vocab) return Status::Error("stop token outside the vocabulary");
  }
  if (static_cast<int>(request.prompt.size()) >= e.m.context) {
    return Status(StatusCode::kOutOfRange,
                  "the prompt has " + std::to_string(request.prompt.size()) +
                      " tokens, but the context holds " + std::to_string(e.m.context) +
                      " (including at least one generated token)");
  }
  if (request.top_logprobs > 20) return Status::Error("top_logprobs must be at most 20");
  // A prompt the whole KV memory cannot hold would wait forever. Out of
  // range, like one longer than the context: retrying cannot help.
  const int prompt_end = static_cast<int>(request.prompt.size()) + 1;
  if (e.m.kv->BlocksToGrow(0, prompt_end, KvMemory::kGlobalPool) >
      e.m.kv->pool_blocks(KvMemory::kGlobalPool)) {
    return Status(StatusCode::kOutOfRange,
                  "the prompt has " + std::to_string(request.prompt.size()) +
                      " tokens, more than the KV memory holds for all requests together (" +
                      std::to_string(e.m.kv->pool_blocks(KvMemory::kGlobalPool) * kKvBlockTokens) +
                      " positions): raise --kv-size");
  }
  // Rows past the tokenizer's pieces are padding that is never sampled
  // (SampleNext): a bias there names no token, as the server tells clients.
  const int pieces = std::min(e.m.tokenizer->vocab_size(), vocab);
  for (const auto& [id, bias] : request.logit_bias) {
    if (id < 0 || id >= pieces) {
      return Status::Error("logit_bias: token " + std::to_string(id) +
                           " is outside the vocabulary (0 to " + std::to_string(pieces - 1) + ")");
    }
    if (!std::isfinite(bias)) {
      return Status::Error("logit_bias: the bias of token " + std::to_string(id) +
                           " is not a finite number");
    }
  }
  auto job = std::make_unique<Job>();
  job->prompt_tokens = static_cast<int>(request.prompt.size());
  job->tokens = request.prompt;
  job->request = std::move(request);
  job->callbacks = std::move(callbacks);
  job->submitted = Clock::now();
  uint64_t id = 0;
  {
    std::lock_guard lock(e.mu);
    if (e.stopping) return Status(StatusCode::kUnavailable, "the engine is shutting down");
    if (static_cast<int>(e.waiting.size()) >= e.options.max_waiting) {
      return Status(StatusCode::kResourceExhausted, "the queue is full (" +
                                                        std::to_string(e.options.max_waiting) +
                                                        " requests waiting): try again later");
    }
    id = job->id = e.next_id++;
    e.waiting.push_back(std::move(job));
  }
  e.wake.notify_one();
  return id;
}

void Engine::Cancel(uint64_t id) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->cancelled.insert(id);
  }
  impl_->wake.notify_one();
}

EngineStats Engine::stats() const {
  const Impl& e = *impl_;
  EngineStats s;
  {
    std::lock_guard lock(e.mu);
    s.running = e.running_count;
    s.waiting = static_cast<int>(e.waiting.size());
  }
  s.requests_total = e.requests_total;
  s.prompt_tokens_total = e.prompt_tokens_total;
  s.generated_tokens_total = e.generated_tokens_total;
  s.prefix_queries_total = e.prefix_queries;
  s.cached_tokens_total = e.cached_tokens_total;
  s.steps_total = e.steps_total;
  s.kv_used_fraction = e.kv_used;
  s.parallel = e.m.kv->config().max_sequences;
  s.context_length = e.m.context;
  return s;
}

void Engine::Impl::Finish(std::unique_ptr<Job> job, FinishReason reason, Status status) {
  {
    std::lock_guard lock(m.mutex);
    m.kv->Release(job->seq);
  }
  {
    std::lock_guard lock(mu);  // counted out before its caller hears it ended
    running_count = static_cast<int>(running.size());
  }
  const Clock::time_point now = Clock::now();
  Completion c;
  c.reason = reason;
  c.status = std::move(status);
  c.prompt_tokens = job->prompt_tokens;
  c.cached_tokens = std::max(0, job->cached_tokens);
  c.generated_tokens = job->generated;
  if (job->has_started) {
    c.queued_seconds = Seconds(job->submitted, job->started);
    c.prefill_seconds = Seconds(job->started, job->has_first_token ? job->first_token : now);
    if (job->has_first_token) c.decode_seconds = Seconds(job->first_token, now);
  } else {
    c.queued_seconds = Seconds(job->submitted, now);
  }
  ++requests_total;
  if (job->callbacks.on_done) job->callbacks.on_done(c);
}

void Engine::Impl::Admit() {
  std::vector<std::unique_ptr<Job>> admitted;
  {
    std::lock_guard lock(mu);
    while (static_cast<int>(running.size() + admitted.size()) < m.kv->config().max_sequences &&
           !waiting.empty()) {
      admitted.push_back(std::move(waiting.front()));
      waiting.pop_front();
    }
    running_count = static_cast<int>(running.size() + admitted.size());
  }
  for (auto& job : admitted) {
    job->admitted = ++admissions;
    int reused = 0;
    {
      std::lock_guard lock(m.mutex);
      reused = m.kv->AttachPrefix(job->seq, job->tokens);
    }
    ++prefix_queries;
    if (job->cached_tokens < 0) {  // first admission (not a preempted one coming back)
      job->cached_tokens = std::min(reused, job->prompt_tokens);
      cached_tokens_total += job->cached_tokens;
      prompt_tokens_total += job->prompt_tokens;
    }
    if (!job->has_started) {
      job->has_started = true;
      job->started = Clock::now();
    }
    running.push_back(std::move(job));
  }
}

// Frees the memory of the most recently admitted request that is not
// `needing` and has no rows in `batch`, and puts it back at the front of the
// queue. False if there is none.
bool Engine::Impl::Preempt(const Job* needing, const Batch& batch) {
  auto victim = running.end();
  for (auto it = running.begin(); it != running.end(); ++it) {
    const Job* job = it->get();
    if (job == needing) continue;
    bool in_batch = false;
    for (const AttentionSegment& s : batch.segments) in_batch |= s.seq == &job->seq;
    if (in_batch) continue;
    if (victim == running.end() || job->admitted > (*victim)->admitted) victim = it;
  }
  if (victim == running.end()) return false;
  std::unique_ptr<Job> job = std::move(*victim);
  running.erase(victim);
  job->preempted = true;
  {
    std::lock_guard lock(m.mutex);
    m.kv->Release(job->seq);
  }
  std::lock_guard lock(mu);
  waiting.push_front(std::move(job));
  running_count = static_cast<int>(running.size());
  return true;
}

void Engine::Impl::EndRunning(Job* job, FinishReason reason, Status status) {
  for (auto it = running.begin(); it != running.end(); ++it) {
    if (it->get() == job) {
      std::unique_ptr<Job> done = std::move(*it);
      running.erase(it);
      Finish(std::move(done), reason, std::move(status));
      return;
    }
  }
}

// Draws the next token from one row of logits. With a constraint, a draw it
// refuses is drawn again from the masked distribution (rejection sampling: the
// result is distributed exactly as the masked distribution, and the mask is
// only computed when needed). Log-probabilities are the model's, before
// penalties, temperature and mask.
TokenEvent Engine::Impl::SampleNext(Job& job, float* row) {
  const int vocab = m.spec.vocab_size;
  const int real = RealVocab();
  std::fill(row + real, row + vocab, -INFINITY);
  const Request& r = job.request;
  auto biased = [&] {
    scratch.assign(row, row + vocab);
    for (const auto& [id, bias] : r.logit_bias) scratch[id] += bias;
  };
  biased();
  Sampler sampler(r.sampling);
  sampler.Reseed(r.sampling.seed + job.tokens.size());  // as Session::Sample
  TokenEvent event;
  event.token = sampler.Sample(scratch.data(), vocab, job.tokens);
  if (r.constraint && !r.constraint->Allows(event.token)) {
    biased();
    r.constraint->Mask(scratch);
    sampler.Reseed(r.sampling.seed + job.tokens.size() + 0x9e3779b97f4a7c15ull);
    event.token = sampler.Sample(scratch.data(), vocab, job.tokens);
  }
  if (r.top_logprobs >= 0) {
    LogSoftmax(row, vocab, 1.0f, scratch.data());
    event.logprob = scratch[event.token];
    const int k = std::min(r.top_logprobs, vocab);
    if (k > 0) {
      std::vector<int32_t> ids(vocab);
      for (int i = 0; i < vocab; ++i) ids[i] = i;
      std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
        return scratch[a] > scratch[b] || (scratch[a] == scratch[b] && a < b);
      });
      for (int i = 0; i < k; ++i) event.top.emplace_back(ids[i], scratch[ids[i]]);
    }
  }
  return event;
}

bool Engine::Impl::Step() {
  // 1. Cancellations and admissions.
  std::vector<uint64_t> to_cancel;
  {
    std::lock_guard lock(mu);
    to_cancel.assign(cancelled.begin(), cancelled.end());
    cancelled.clear();
    for (uint64_t id : to_cancel) {
      for (auto it = waiting.begin(); it != waiting.end(); ++it) {
        if ((*it)->id == id) {
          std::unique_ptr<Job> job = std::move(*it);
          waiting.erase(it);
          running.push_back(std::move(job));  // finished below, outside the lock
          break;
        }
      }
    }
  }
  for (uint64_t id : to_cancel) {
    for (const auto& job : running) {
      if (job->id == id) {
        EndRunning(job.get(), FinishReason::kCancelled);
        break;
      }
    }
  }
  Admit();
  if (running.empty()) return false;

  // 2. The batch: generating requests first, then prompt chunks, oldest first.
  std::stable_sort(running.begin(), running.end(),
                   [](const auto& a, const auto& b) { return a->admitted < b->admitted; });
  std::vector<Job*> order;
  bool any_decoding = false;
  for (const auto& job : running) {
    job->preempted = false;
    order.push_back(job.get());
    any_decoding |= job->generated > 0;
  }
  Batch batch;
  std::vector<Job*> with_logits;
  std::vector<std::span<const int32_t>> fed;
  int prefill_rows = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (Job* job : order) {
      if (job->preempted) continue;
      const int remaining = static_cast<int>(job->tokens.size()) - job->seq.size();
      const bool decoding = job->generated > 0 && remaining == 1;
      if ((pass == 0) != decoding) continue;
      int n = std::min(remaining, m.batch_size - batch.rows());
      if (!decoding && any_decoding) n = std::min(n, options.prefill_chunk - prefill_rows);
      if (n <= 0) continue;
      auto reserve = [&] {
        std::lock_guard lock(m.mutex);
        return m.kv->Reserve(job->seq, job->seq.size() + n);
      };
      bool reserved = reserve();
      while (!reserved && Preempt(job, batch)) reserved = reserve();
      if (!reserved) {
        if (batch.rows() > 0) continue;  // the others run first; this one waits
        // Alone and still too big: it can never fit. An answer that reached
        // the end of the memory ends there, as at the end of the context.
        if (job->generated > 0) {
          EndRunning(job, FinishReason::kLength);
        } else {
          EndRunning(job, FinishReason::kError,
                     Status(StatusCode::kResourceExhausted,
                            "the request does not fit in the KV memory (raise --kv-size)"));
        }
        return true;
      }
      const std::span<const int32_t> rows(job->tokens.data() + job->seq.size(), n);
      const bool last = job->seq.size() + n == static_cast<int>(job->tokens.size());
      batch.Add(job->seq, rows, last);
      fed.push_back(rows);
      if (!decoding) prefill_rows += n;
      if (last) with_logits.push_back(job);
    }
  }
  if (batch.rows() == 0) return true;

  // 3. Run, commit, sample.
  const size_t V = m.spec.vocab_size;
  logits.resize(with_logits.size() * V);
  // A greedy request that reads nothing but the argmax (no log-probabilities,
  // penalties or constraint) lets the head skip rows that cannot win
  // (Transformer::Forward); SampleNext then picks the same token.
  head_uses.clear();
  const int real_vocab = RealVocab();
  for (const Job* job : with_logits) {
    const Request& r = job->request;
    const SamplingParams& p = r.sampling;
    const bool argmax_only = p.temperature <= 0.0f && r.top_logprobs < 0 && !r.constraint &&
                             p.repetition_penalty == 1.0f && p.presence_penalty == 0.0f &&
                             p.frequency_penalty == 0.0f;
    head_uses.push_back({argmax_only, real_vocab, r.logit_bias});
  }
  {
    std::lock_guard lock(m.mutex);
    m.executor->Forward(batch, *m.kv, *m.pool, logits.data(), nullptr, head_uses);
    for (size_t s = 0; s < batch.segments.size(); ++s) {
      m.kv->Commit(const_cast<SequenceKv&>(*batch.segments[s].seq), fed[s]);
    }
    const int blocks = m.kv->pool_blocks(KvMemory::kGlobalPool);
    kv_used =
        blocks > 0 ? static_cast<double>(m.kv->used_blocks(KvMemory::kGlobalPool)) / blocks : 0.0;
  }
  ++steps_total;
  std::vector<std::pair<Job*, FinishReason>> ending;
  for (size_t i = 0; i < with_logits.size(); ++i) {
    Job& job = *with_logits[i];
    const TokenEvent event = SampleNext(job, logits.data() + i * V);
    const Request& r = job.request;
    const bool end =
        (!r.ignore_eos && model.IsEndOfGeneration(event.token)) ||
        std::find(r.stop_tokens.begin(), r.stop_tokens.end(), event.token) != r.stop_tokens.end();
    if (end) {  // an end token is not part of the answer
      ending.emplace_back(&job, FinishReason::kStop);
      continue;
    }
    if (r.constraint) r.constraint->Accept(event.token);
    job.tokens.push_back(event.token);  // fed next step unless the request ends here
    ++job.generated;
    ++generated_tokens_total;
    if (!job.has_first_token) {
      job.has_first_token = true;
      job.first_token = Clock::now();
    }
    const bool go_on = !job.callbacks.on_token || job.callbacks.on_token(event);
    if (!go_on) {
      ending.emplace_back(&job, FinishReason::kStop);
    } else if ((r.max_tokens >= 0 && job.generated >= r.max_tokens) ||
               static_cast<int>(job.tokens.size()) >= m.context) {
      ending.emplace_back(&job, FinishReason::kLength);
    }
  }
  for (const auto& [job, reason] : ending) EndRunning(job, reason);
  {
    std::lock_guard lock(mu);
    running_count = static_cast<int>(running.size());
  }
  return true;
}

void Engine::Impl::Loop() {
  for (;;) {
    {
      std::unique_lock lock(mu);
      wake.wait(lock, [&] {
        return stopping || !waiting.empty() || !running.empty() || !cancelled.empty();
      });
      if (stopping) break;
    }
    const Status status = Guarded([&] {
      Step();
      return Status();
    });
    if (!status.ok()) {
      // A failed step (a bug, or memory): end every running request with the
      // error rather than retry forever.
      std::vector<std::unique_ptr<Job>> failed = std::move(running);
      running.clear();
      for (auto& job : failed) Finish(std::move(job), FinishReason::kError, status);
    }
  }
  std::vector<std::unique_ptr<Job>> rest = std::move(running);
  running.clear();
  {
    std::lock_guard lock(mu);
    for (auto& job : waiting) rest.push_back(std::move(job));
    waiting.clear();
    running_count = 0;
  }
  for (auto& job : rest) Finish(std::move(job), FinishReason::kCancelled);
}

}  // namespace gemma
