// The coarsest partition of an automaton's states that its transitions
// respect (Hopcroft's refinement for automata whose transition function is
// partial, after Valmari and Lehtinen, "Efficient minimization of DFAs with
// partial transition functions", STACS 2008): O(m log n) for n states and m
// transitions. Moore's round-by-round refinement, which this replaced, needs
// as many rounds as the longest chain of distinguishable states, each over
// every state: quadratic on a literal or an unanchored pattern, where a
// 2,000-character pattern took over a second to compile.
#pragma once

#include <cstdint>
#include <vector>

namespace gemma::constrain {

struct LabelledTransition {
  int32_t from;
  int32_t label;  // any ids; at most one transition per (from, label)
  int32_t to;
};

// Block ids (0 .. blocks-1) per state: two states share a block exactly when
// they start in the same class of `initial_class` and, for every label, both
// lack a transition or both go to states that share a block. Block ids are
// numbered by each block's first state in state order (state 0's block is 0).
std::vector<int32_t> CoarsestStablePartition(const std::vector<int32_t>& initial_class,
                                             const std::vector<LabelledTransition>& transitions);

}  // namespace gemma::constrain
