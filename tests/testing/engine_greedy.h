// Greedy-continuation checks shared by the golden and per-generation tests:
// through a Session's KV cache, across a save and load, and through the
// batch engine with its prefix cache.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <span>
#include <string>
#include <vector>

#include "gemma/engine.h"
#include "gemma/gemma.h"

namespace gemma::testing {

// The argmax of the session's logits, appended and decoded, n times (the
// last id is not appended): the greedy continuation through the KV cache.
inline std::vector<int32_t> GreedyContinuation(Session& session, size_t n) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < n; ++i) {
    const std::span<const float> l = session.logits();
    const int32_t next = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    ids.push_back(next);
    if (i + 1 < n && !session.Append(std::span<const int32_t>(&next, 1)).ok()) {
      ADD_FAILURE() << "decode step " << i << " failed";
      break;
    }
  }
  return ids;
}

// A session saved after the first `split` prompt tokens and loaded into
// another continues with `greedy` (the reference's tokens).
inline void ExpectSaveLoadKeepsGreedy(Model& model, const std::vector<int32_t>& prompt,
                                      const std::vector<int32_t>& greedy, size_t split,
                                      const std::string& tag) {
  const std::span<const int32_t> head(prompt.data(), split);
  const std::span<const int32_t> tail(prompt.data() + split, prompt.size() - split);
  Session first(model);
  ASSERT_TRUE(first.Append(head).ok());
  const std::string path =
      (std::filesystem::temp_directory_path() / (tag + "_" + std::to_string(::getpid()))).string();
  ASSERT_TRUE(first.Save(path).ok());
  Session second(model);
  const Status loaded = second.Load(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  ASSERT_TRUE(second.Append(tail).ok());
  EXPECT_EQ(GreedyContinuation(second, greedy.size()), greedy) << tag;
}

// The batch engine serves two requests side by side with the reference's
// greedy tokens, and a third whose prompt is the first's prompt and answer
// takes `expected_cached` positions from the prefix cache and continues as
// the reference does.
inline void ExpectEngineGreedyAndPrefixReuse(Model& model, const std::vector<int32_t>& prompt,
                                             const std::vector<int32_t>& greedy,
                                             int expected_cached) {
  auto engine = Engine::Start(model);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  struct Result {
    std::vector<int32_t> tokens;
    int cached = -1;
    std::promise<void> done;
  };
  auto submit = [&](const std::vector<int32_t>& ids, int n, Result& out) {
    Request r;
    r.prompt = ids;
    r.max_tokens = n;
    r.ignore_eos = true;
    RequestCallbacks cb;
    cb.on_token = [&out](const TokenEvent& e) {
      out.tokens.push_back(e.token);
      return true;
    };
    cb.on_done = [&out](const Completion& c) {
      out.cached = c.cached_tokens;
      out.done.set_value();
    };
    ASSERT_TRUE((*engine)->Submit(r, cb).ok());
  };
  Result a, b, c;
  submit(prompt, static_cast<int>(greedy.size()), a);
  submit(prompt, static_cast<int>(greedy.size()), b);
  a.done.get_future().wait();
  b.done.get_future().wait();
  EXPECT_EQ(a.tokens, greedy);
  EXPECT_EQ(b.tokens, greedy);
  std::vector<int32_t> longer = prompt;
  longer.insert(longer.end(), greedy.begin(), greedy.end() - 1);
  submit(longer, 1, c);
  c.done.get_future().wait();
  EXPECT_EQ(c.cached, expected_cached);
  EXPECT_EQ(c.tokens, std::vector<int32_t>{greedy.back()});
}

}  // namespace gemma::testing
