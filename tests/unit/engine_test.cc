// The continuous-batching engine: a greedy answer is the same bits alone or
// beside seven others; requests join and leave mid-batch; a full KV memory
// preempts and resumes instead of failing; cancellation, queue limits,
// over-long prompts; the prefix cache; constraints; shutdown.
#include "gemma/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "testing/golden_case.h"

namespace gemma {
namespace {

// gemma3_qknorm: 6 layers, 5 with a 16-token sliding window; q8_0 runs the
// packed integer kernels on this CPU (where it has them).
const std::string kModel = testing::GoldenDir("gemma3_qknorm") + "/gguf/gemma3_qknorm.q8_0.gguf";

std::unique_ptr<Model> Open(int parallel, int64_t kv_size = 0, int ctx = 512, int batch = 64) {
  ModelOptions options;
  options.context_length = ctx;
  options.parallel = parallel;
  options.kv_size = kv_size;
  options.batch_size = batch;
  options.prefix_cache = true;
  options.threads = 2;
  auto model = Model::Open(kModel, options);
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? std::move(model).value() : nullptr;
}

// A prompt per index: the golden prompt's tokens, rotated and cut differently.
std::vector<int32_t> PromptFor(int i, int length = 0) {
  const std::vector<int32_t> base =
      testing::LoadCaseJson("gemma3_qknorm")["prompt"]["ids"].get<std::vector<int32_t>>();
  std::vector<int32_t> p = {base[0]};  // BOS
  const int n = length > 0 ? length : 20 + 7 * i;
  for (int k = 0; k < n; ++k) p.push_back(base[1 + (k * (i + 1) + i) % (base.size() - 1)]);
  return p;
}

struct Answer {
  std::vector<TokenEvent> events;
  Completion done;
  bool finished = false;
};

// Collects answers; waits for all of them.
class Collector {
 public:
  RequestCallbacks For(int index, std::function<bool(const TokenEvent&)> extra = nullptr) {
    {
      std::lock_guard lock(mu_);
      if (static_cast<int>(answers_.size()) <= index) answers_.resize(index + 1);
    }
    RequestCallbacks cb;
    cb.on_token = [this, index, extra](const TokenEvent& e) {
      {
        std::lock_guard lock(mu_);
        answers_[index].events.push_back(e);
      }
      return extra ? extra(e) : true;
    };
    cb.on_done = [this, index](const Completion& c) {
      std::lock_guard lock(mu_);
      answers_[index].done = c;
      answers_[index].finished = true;
      cv_.notify_all();
    };
    return cb;
  }
  std::vector<Answer> Wait(int count) {
    std::unique_lock lock(mu_);
    const bool ok = cv_.wait_for(lock, std::chrono::seconds(120), [&] {
      if (static_cast<int>(answers_.size()) < count) return false;
      for (int i = 0; i < count; ++i) {
        if (!answers_[i].finished) return false;
      }
      return true;
    });
    EXPECT_TRUE(ok) << "timed out";
    return answers_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Answer> answers_;
};

Request Greedy(std::vector<int32_t> prompt, int max_tokens) {
  Request r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.ignore_eos = true;  // random weights: keep going for a fixed length
  r.top_logprobs = 3;
  return r;
}

void ExpectSameBits(const Answer& a, const Answer& b, const std::string& what) {
  ASSERT_EQ(a.events.size(), b.events.size()) << what;
  for (size_t i = 0; i < a.events.size(); ++i) {
    EXPECT_EQ(a.events[i].token, b.events[i].token) << what << " token " << i;
    EXPECT_EQ(std::bit_cast<uint32_t>(a.events[i].logprob),
              std::bit_cast<uint32_t>(b.events[i].logprob))
        << what << " logprob " << i;
    ASSERT_EQ(a.events[i].top.size(), b.events[i].top.size());
    for (size_t k = 0; k < a.events[i].top.size(); ++k) {
      EXPECT_EQ(a.events[i].top[k].first, b.events[i].top[k].first);
      EXPECT_EQ(std::bit_cast<uint32_t>(a.events[i].top[k].second),
                std::bit_cast<uint32_t>(b.events[i].top[k].second));
    }
  }
}

// Each request alone, one engine run at a time.
std::vector<Answer> RunAlone(Model& model, const std::vector<Request>& requests) {
  std::vector<Answer> out;
  auto engine = Engine::Start(model);
  EXPECT_TRUE(engine.ok());
  for (size_t i = 0; i < requests.size(); ++i) {
    Collector c;
    EXPECT_TRUE((*engine)->Submit(requests[i], c.For(0)).ok());
    out.push_back(c.Wait(1)[0]);
  }
  return out;
}

TEST(Engine, GreedyAnswerIsTheSameAloneOrBesideSevenOthers) {
  auto model = Open(8);
  ASSERT_TRUE(model);
  std::vector<Request> requests;
  for (int i = 0; i < 8; ++i) requests.push_back(Greedy(PromptFor(i), 24 + 3 * i));
  const std::vector<Answer> alone = RunAlone(*model, requests);
  auto engine = Engine::Start(*model);
  ASSERT_TRUE(engine.ok());
  Collector together;
  for (int i = 0; i < 8; ++i) ASSERT_TRUE((*engine)->Submit(requests[i], together.For(i)).ok());
  const std::vector<Answer> batched = together.Wait(8);
  for (int i = 0; i < 8; ++i) {
    ExpectSameBits(alone[i], batched[i], "request " + std::to_string(i));
    EXPECT_EQ(batched[i].done.reason, FinishReason::kLength);
    EXPECT_EQ(batched[i].done.generated_tokens, 24 + 3 * i);
  }
  EXPECT_GT((*engine)->stats().steps_total, 0);
}

// The engine's greedy answer is the single-user Session path's answer.
TEST(Engine, MatchesTheSessionPath) {
  auto model = Open(2);
  ASSERT_TRUE(model);
  const std::vector<int32_t> prompt = PromptFor(3);
  Session session(*model);
  ASSERT_TRUE(session.Append(prompt).ok());
  std::vector<int32_t> expected;
  for (int i = 0; i < 16; ++i) {
    const int32_t id = session.Sample({});
    expected.push_back(id);
    ASSERT_TRUE(session.Append(std::span<const int32_t>(&id, 1)).ok());
  }
  const std::vector<Answer> got = RunAlone(*model, {Greedy(prompt, 16)});
  std::vector<int32_t> tokens;
  for (const TokenEvent& e : got[0].events) tokens.push_back(e.token);
  EXPECT_EQ(tokens, expected);
}

// Requests join while others generate and leave at different times.
TEST(Engine, RequestsJoinAndLeaveMidBatch) {
  auto model = Open(4);
  ASSERT_TRUE(model);
  std::vector<Request> requests;
  for (int i = 0; i < 6; ++i) requests.push_back(Greedy(PromptFor(i + 10), 5 + 9 * (i % 3)));
  const std::vector<Answer> alone = RunAlone(*model, requests);
  auto engine = Engine::Start(*model);
  ASSERT_TRUE(engine.ok());
  Collector c;
  std::atomic<int> submitted{3};
  Engine* e = engine->get();
  // The last three arrive while the first ones are generating.
  for (int i = 0; i < 3; ++i) {
    auto extra = [&, i](const TokenEvent&) {
      if (i == 0 && submitted < 6) {
        const int next = submitted++;
        EXPECT_TRUE(e->Submit(requests[next], c.For(next)).ok());
      }
      return true;
    };
    ASSERT_TRUE(e->Submit(requests[i], c.For(i, extra)).ok());
  }
  const std::vector<Answer> got = c.Wait(6);
  for (int i = 0; i < 6; ++i) ExpectSameBits(alone[i], got[i], "request " + std::to_string(i));
}

// A KV memory too small for every request at once: the newest is preempted,
// waits and resumes; every answer is still the one it gets alone.
TEST(Engine, FullKvMemoryPreemptsAndResumes) {
  // 192 positions of global-layer memory (+ 4 blocks of slack) for 4
  // requests that each grow to ~110 positions.
  auto model = Open(4, /*kv_size=*/192);
  ASSERT_TRUE(model);
  std::vector<Request> requests;
  for (int i = 0; i < 4; ++i) requests.push_back(Greedy(PromptFor(i + 20, 60), 50));
  const std::vector<Answer> alone = RunAlone(*model, requests);
  auto engine = Engine::Start(*model);
  ASSERT_TRUE(engine.ok());
  Collector c;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE((*engine)->Submit(requests[i], c.For(i)).ok());
  const std::vector<Answer> got = c.Wait(4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(got[i].done.reason, FinishReason::kLength) << got[i].done.status.message();
    ExpectSameBits(alone[i], got[i], "request " + std::to_string(i));
  }
}

TEST(Engine, RequestLargerThanTheMemoryIsRefused) {
  auto model = Open(1, /*kv_size=*/64, /*ctx=*/512);  // 2 blocks: 128 positions
  ASSERT_TRUE(model);
  auto engine = Engine::Start(*model);
  ASSERT_TRUE(engine.ok());
  // A prompt that cannot fit is refused at once, as out of range (like one
  // longer than the context: waiting or retrying cannot help).
  auto refused = (*engine)->Submit(Greedy(PromptFor(1, 200), 4), {});
  EXPECT_EQ(refused.status().code(), StatusCode::kOutOfRange);
  // One that fits but grows to the end of the memory stops there, as at the
  // end of the context.
  Collector c;
  ASSERT_TRUE((*engine)->Submit(Greedy(PromptFor(1, 100), 100), c.For(0)).ok());
  const Answer a = c.Wait(1)[0];
  EXPECT_EQ(a.done.reason, FinishReason::kLength);
  // 128 positions hold the 101 prompt tokens and 27 generated ones; the 28th
  // generated token (from the last position's logits) is never fed.
  EXPECT_EQ(a.done.generated_tokens, 128 - 101 + 1);
}

TEST(Engine, CancelRunningAndWaiting) {
  auto model = Open(1);
  ASSERT_TRUE(model);
  auto engine = Engine::Start(*model);
  ASSERT_TRUE(engine.ok());
  Engine* e = engine->get();
  Collector c;
  std::atomic<uint64_t> first_id{0};
  std::atomic<bool> second_cancelled{false};
  int seen = 0;
  auto cancel_after_3 = [&](const TokenEvent&) {
    // The id is stored right after Submit returns; the engine may be faster.
    while (first_id == 0) std::this_thread::yield();
    // The first request holds its slot until the second is cancelled:
    // otherwise the second could be admitted and generate first.
    if (++seen == 3) {
      while (!second_cancelled) std::this_thread::yield();
      e->Cancel(first_id);
    }
    return true;
  };
  auto id = e->Submit(Greedy(PromptFor(1), 400), c.For(0, cancel_after_3));
  ASSERT_TRUE(id.ok());
  first_id = *id;
  auto second = e->Submit(Greedy(PromptFor(2), 400), c.For(1));  // waits: parallel 1
  ASSERT_TRUE(second.ok());
  e->Cancel(*second);
  second_cancelled = true;
  const std::vector<Answer> got = c.Wait(2);
  EXPECT_EQ(got[0].done.reason, FinishReason::kCancelled);
  EXPECT_LE(got[0].done.generated_tokens, 4);
  EXPECT_EQ(got[1].done.reason, FinishReason::kCancelled);
  EXPECT_EQ(got[1].done.generated_tokens, 0);
  EXPECT_EQ(e->stats().running, 0);
  EXPECT_EQ(e->stats().waiting, 0);
}

TEST(Engine, StoppingFromTheCallbackIsAStop) {
  auto model = Open(1);
  ASSERT_TRUE(model);
  auto engine = Engine::Start(*model);
  ASSERT_TRUE(engine.ok());
  Collector c;
  int seen = 0;
  ASSERT_TRUE((*engine)
                  ->Submit(Greedy(PromptFor(4), 100),
                           c.For(0, [&](const TokenEvent&) { return ++seen < 5; }))
                  .ok());
  const Answer a = c.Wait(1)[0];
  EXPECT_EQ(a.done.reason, FinishReason::kStop);
  EXPECT_EQ(a.done.generated_tokens, 5);
}

TEST(Engine, RefusesWhatCannotRun) {
  auto model = Open(1, 0, /*ctx=*/64);
  ASSERT_TRUE(model);
  EngineOptions options;
  options.max_waiting = 1;
  auto engine = Engine::Start(*model, options);
  ASSERT_TRUE(engine.ok());
  // Longer than the context: out of range, naming both numbers.
  auto too_long = (*engine)->Submit(Greedy(PromptFor(1, 80), 4), {});
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(too_long.status().message().find("81"), std::string::npos);
  EXPECT_NE(too_long.status().message().find("64"), std::string::npos);
  auto bad = (*engine)->Submit(Greedy({2, 1 << 30}, 4), {});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*engine)->Submit(Greedy({}, 4), {}).status().code(), StatusCode::kInvalidArgument);
  // One running, one waiting, the third is refused (queue of 1).
  Collector c;
  std::atomic<bool> release{false};
  auto hold = [&](const TokenEvent&) {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return true;
  };
  ASSERT_TRUE((*engine)->Submit(Greedy(PromptFor(1), 3), c.For(0, hold)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let it start running
  ASSERT_TRUE((*engine)->Submit(Greedy(PromptFor(2), 3), c.For(1)).ok());
  auto full = (*engine)->Submit(Greedy(PromptFor(3), 3), c.For(2));
  EXPECT_EQ(full.status().code(), StatusCode::kResourceExhausted);
  release = true;
  c.Wait(2);
}

// logit_bias names tokens by the tokenizer's pieces (the embedding's padding
// rows are never sampled), the same rule the server states to clients.
TEST(Engine, LogitBiasMustNameATokenWithAFiniteBias) {
  auto model = Open(1, 0, /*ctx=*/64);
  ASSERT_TRUE(model);
  auto engine = Engine::Start(*model, {});
  ASSERT_TRUE(engine.ok());
  const ModelInfo& info = model->info();
  const int pieces = std::min(info.tokenizer_vocab_size, info.vocab_size);
  ASSERT_GT(pieces, 3);
  auto with_bias = [&](int32_t id, float bias) {
    Request r = Greedy(PromptFor(1), 2);
    r.logit_bias = {{id, bias}};
    return (*engine)->Submit(std::move(r), {});
  };
  for (const auto& [id, bias] : std::vector<std::pair<int32_t, float>>{
           {pieces, 1.0f}, {-1, 1.0f}, {3, std::nanf("")}, {3, INFINITY}}) {
    auto refused = with_bias(id, bias);
    ASSERT_FALSE(refused.ok()) << id << " " << bias;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("logit_bias"), std::string::npos);
  }
  Collector c;
  ASSERT_TRUE((*engine)
                  ->Submit(
                      [&] {
                        Request r = Greedy(PromptFor(1), 2);
                        r.logit_bias = {{pieces - 1, 100.0f}};
                        return r;
                      }(),
                      c.For(0))
                  .ok());
  const Answer answer = c.Wait(1)[0];
  // A +100 bias on the last piece makes it the greedy choice.
  ASSERT_FALSE(answer.events.empty());
  EXPECT_EQ(answer.events[0].token, pieces - 1);
}

// The second time, a long shared prefix is reused: fewer prompt positions
// run, and the answer is the same bits.
TEST(Engine, PrefixCacheReusesAndChangesNothing) {
  auto model = Open(2);
  ASSERT_TRUE(model);
  auto engine = Engine::Start(*model);
  ASSERT_TRUE(engine.ok());
  const Request r = Greedy(PromptFor(5, 300), 12);
  Collector first, second;
  ASSERT_TRUE((*engine)->Submit(r, first.For(0)).ok());
  const Answer a = first.Wait(1)[0];
  ASSERT_TRUE((*engine)->Submit(r, second.For(0)).ok());
  const Answer b = second.Wait(1)[0];
  EXPECT_EQ(a.done.cached_tokens, 0);
  EXPECT_EQ(b.done.cached_tokens, 256);  // whole blocks, one token left to run
  ExpectSameBits(a, b, "second run");
  // A longer conversation that starts the same way reuses it too.
  Request longer = r;
  for (const TokenEvent& e : a.events) longer.prompt.push_back(e.token);
  longer.prompt.push_back(5);
  Collector third;
  ASSERT_TRUE((*engine)->Submit(longer, third.For(0)).ok());
  EXPECT_GE(third.Wait(1)[0].done.cached_tokens, 256);
  EXPECT_GT((*engine)->stats().cached_tokens_total, 500);
}

// Only allowed tokens come out.
class EvenTokensOnly : public TokenConstraint {
 public:
  bool Allows(int32_t token) override { return token % 2 == 0; }
  void Mask(std::span<float> logits) override {
    for (size_t i = 1; i < logits.size(); i += 2) logits[i] = -INFINITY;
  }
  void Accept(int32_t token) override { accepted.push_back(token); }
  std::vector<int32_t> accepted;
};

TEST(Engine, ConstraintRestrictsTokens) {
  auto model = Open(1);
  ASSERT_TRUE(model);
  auto engine = Engine::Start(*model);
  ASSERT_TRUE(engine.ok());
  for (float temperature : {0.0f, 1.0f}) {
    auto constraint = std::make_shared<EvenTokensOnly>();
    Request r = Greedy(PromptFor(6), 30);
    r.sampling.temperature = temperature;
    r.constraint = constraint;
    Collector c;
    ASSERT_TRUE((*engine)->Submit(r, c.For(0)).ok());
    const Answer a = c.Wait(1)[0];
    ASSERT_EQ(a.events.size(), 30u);
    for (const TokenEvent& e : a.events) EXPECT_EQ(e.token % 2, 0);
    EXPECT_EQ(constraint->accepted.size(), 30u);
  }
}

TEST(Engine, ShutdownEndsEverything) {
  auto model = Open(1);
  ASSERT_TRUE(model);
  auto engine = Engine::Start(*model);
  ASSERT_TRUE(engine.ok());
  Collector c;
  auto slow = [](const TokenEvent&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return true;
  };
  ASSERT_TRUE((*engine)->Submit(Greedy(PromptFor(1), 100000), c.For(0, slow)).ok());
  ASSERT_TRUE((*engine)->Submit(Greedy(PromptFor(2), 10), c.For(1)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*engine)->Shutdown();
  const std::vector<Answer> got = c.Wait(2);
  EXPECT_EQ(got[0].done.reason, FinishReason::kCancelled);
  EXPECT_EQ(got[1].done.reason, FinishReason::kCancelled);
  EXPECT_EQ((*engine)->Submit(Greedy(PromptFor(1), 1), {}).status().code(),
            StatusCode::kUnavailable);
}

TEST(Engine, EmbeddingIsUnitLengthAndDeterministic) {
  auto model = Open(1);
  ASSERT_TRUE(model);
  auto a = Embed(*model, PromptFor(1));
  auto b = Embed(*model, PromptFor(1));
  auto c = Embed(*model, PromptFor(2));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(static_cast<int>(a->size()), model->info().hidden_size);
  double norm = 0;
  for (float v : *a) norm += double(v) * v;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_FALSE(Embed(*model, std::vector<int32_t>{}).ok());
}

}  // namespace
}  // namespace gemma
