// CoarsestStablePartition (Hopcroft / Valmari-Lehtinen refinement) against
// the definition, computed the slow way in this file: start from the initial
// classes and split by (own class, target class per label) until nothing
// changes. Random partial automata of several shapes, and the long chains
// that made Moore's rounds quadratic.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "server/constrain/partition_refinement.h"

namespace gemma::constrain {
namespace {

// Classes numbered by first state, as CoarsestStablePartition numbers them.
std::vector<int32_t> Renumber(const std::vector<int32_t>& cls) {
  std::map<int32_t, int32_t> ids;
  std::vector<int32_t> out;
  for (const int32_t c : cls)
    out.push_back(ids.emplace(c, static_cast<int32_t>(ids.size())).first->second);
  return out;
}

std::vector<int32_t> ByDefinition(const std::vector<int32_t>& initial,
                                  const std::vector<LabelledTransition>& transitions) {
  const size_t n = initial.size();
  std::vector<std::map<int32_t, int32_t>> out(n);  // label -> target, per state
  for (const LabelledTransition& t : transitions) out[t.from][t.label] = t.to;
  std::vector<int32_t> cls = Renumber(initial);
  for (;;) {
    std::map<std::vector<int32_t>, int32_t> ids;
    std::vector<int32_t> next(n);
    for (size_t s = 0; s < n; ++s) {
      std::vector<int32_t> signature = {cls[s]};
      for (const auto& [label, to] : out[s]) {
        signature.push_back(label);
        signature.push_back(cls[to]);
      }
      next[s] = ids.emplace(signature, static_cast<int32_t>(ids.size())).first->second;
    }
    next = Renumber(next);
    if (next == cls) return cls;
    cls = next;
  }
}

TEST(PartitionRefinement, MatchesTheDefinitionOnRandomAutomata) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 400; ++trial) {
    const int32_t n = 1 + static_cast<int32_t>(rng() % 40);
    const int32_t labels = 1 + static_cast<int32_t>(rng() % 5);
    const int32_t classes = 1 + static_cast<int32_t>(rng() % 3);
    const int density = static_cast<int>(rng() % 100);
    // Few distinct targets, so that many states are equivalent.
    const int32_t targets = 1 + static_cast<int32_t>(rng() % n);
    std::vector<int32_t> initial(n);
    for (int32_t& c : initial) c = static_cast<int32_t>(rng() % classes) * 5;  // any ids
    std::vector<LabelledTransition> transitions;
    for (int32_t s = 0; s < n; ++s) {
      for (int32_t a = 0; a < labels; ++a) {
        if (static_cast<int>(rng() % 100) < density) {
          transitions.push_back({s, 100 + 3 * a, static_cast<int32_t>(rng() % targets)});
        }
      }
    }
    std::shuffle(transitions.begin(), transitions.end(), rng);
    ASSERT_EQ(CoarsestStablePartition(initial, transitions), ByDefinition(initial, transitions))
        << "trial " << trial << ": " << n << " states, " << transitions.size() << " transitions";
  }
}

TEST(PartitionRefinement, ChainsAndCycles) {
  // A chain 0 -> 1 -> ... -> n-1 (final): every state is distinct.
  const int32_t n = 3000;
  std::vector<int32_t> initial(n, 0);
  initial[n - 1] = 1;
  std::vector<LabelledTransition> chain;
  for (int32_t s = 0; s + 1 < n; ++s) chain.push_back({s, 0, s + 1});
  const std::vector<int32_t> distinct = CoarsestStablePartition(initial, chain);
  for (int32_t s = 0; s < n; ++s) ASSERT_EQ(distinct[s], s);
  // A cycle of equal states collapses to one class.
  std::vector<LabelledTransition> cycle;
  for (int32_t s = 0; s < n; ++s) cycle.push_back({s, 0, (s + 1) % n});
  const std::vector<int32_t> one = CoarsestStablePartition(std::vector<int32_t>(n, 0), cycle);
  for (int32_t s = 0; s < n; ++s) ASSERT_EQ(one[s], 0);
  // A cycle of period 3 (one state of three final) has three classes.
  std::vector<int32_t> every_third(n, 0);
  for (int32_t s = 0; s < n; s += 3) every_third[s] = 1;
  const std::vector<int32_t> three = CoarsestStablePartition(every_third, cycle);
  for (int32_t s = 0; s < n; ++s) ASSERT_EQ(three[s], s % 3);
  EXPECT_TRUE(CoarsestStablePartition({}, {}).empty());
}

}  // namespace
}  // namespace gemma::constrain
