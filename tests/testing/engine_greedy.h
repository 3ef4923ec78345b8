// A check shared by the tests of generations whose layers share KV: the
// batch engine serves two requests side by side with the reference's greedy
// tokens, and a third whose prompt is the first's prompt and answer takes
// `expected_cached` positions from the prefix cache and continues as the
// reference does.
#pragma once

#include <gtest/gtest.h>

#include <future>
#include <vector>

#include "gemma/engine.h"
#include "gemma/gemma.h"

namespace gemma::testing {

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
