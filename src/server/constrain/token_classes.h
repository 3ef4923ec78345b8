// Token classes per grammar position: what can be decided about each text
// token from the top of a stack alone. A token read from position p either
// stays inside the frames it opens (accepted, independent of the rest of the
// stack), fails (rejected), or gets to a point that depends on the rest: the
// rule of p completes and the bytes after it belong to whatever lies below, or
// a count >= min check needs the real counter. Those points are Escapes: a
// trie node plus how the walk resumes there. At run time the mask of a stack
// is the accepted set of its top, plus, for each escape, the tokens of the
// escape node's subtree walked from the resumed real stack.
//
// Computing a class walks the vocabulary trie once (pruned where the grammar
// dies). For a position inside a JSON string nearly every token survives, so
// that walk is the expensive one (tens of milliseconds on a 262k vocabulary);
// classes of rules that call nothing (strings, numbers, ...) are shared by
// every grammar on the same vocabulary through ClassCache.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/constrain/grammar.h"
#include "server/constrain/stack_machine.h"
#include "server/constrain/vocab_index.h"

namespace gemma::constrain {

// A set of token ids: a sorted list when small, a bitset when large.
class TokenSet {
 public:
  static TokenSet FromSorted(std::vector<int32_t> ids, int32_t vocab_size);
  // `ids` lists the members of `bits` (any order).
  static TokenSet FromBits(const std::vector<uint64_t>& bits, const std::vector<int32_t>& ids);
  void OrInto(uint64_t* mask) const;
  bool Contains(int32_t id) const;
  size_t count() const { return count_; }
  size_t memory_bytes() const { return bits_.size() * 8 + ids_.size() * 4; }

 private:
  std::vector<uint64_t> bits_;
  std::vector<int32_t> ids_;
  size_t count_ = 0;
};

struct Escape {
  int32_t node;          // trie node: the escape applies after its bytes
  int32_t k;             // units the position's frame started before the escape
  int32_t resume_state;  // rule-relative state after a count >= min edge; -1: the rule ended
  uint8_t flags;         // kEscapeInc | kEscapeNeedMin (stack_machine.h)
  bool tokens_here;      // the node's own tokens depend on the escape
  bool subtree;          // the node has children to walk from the resumed stack
};

struct StateClass {
  // accepted[k]: tokens accepted while at most k more units may start (counted
  // rules); the last entry holds all accepted tokens (the only one for rules
  // without a maximum).
  std::vector<TokenSet> accepted;
  std::vector<Escape> escapes;
  int64_t nodes_walked = 0;
  const TokenSet& AcceptedWithin(int64_t remaining) const {
    const int64_t last = static_cast<int64_t>(accepted.size()) - 1;
    return accepted[remaining < last ? remaining : last];
  }
};

// Walks the trie for `state` of `grammar` (see the file comment).
std::unique_ptr<StateClass> ClassifyState(const Grammar& grammar, int32_t state,
                                          const VocabIndex& vocab);

// Classes of one leaf-rule shape, indexed by rule-relative state.
struct ShapeClasses {
  std::mutex mu;
  std::vector<std::unique_ptr<StateClass>> classes;
};

// Per vocabulary: leaf-rule shapes seen so far (bounded; past the bound,
// grammars keep their own classes).
class ClassCache {
 public:
  std::shared_ptr<ShapeClasses> Find(const std::string& key, int32_t num_states);
  size_t size();

 private:
  static constexpr size_t kMaxShapes = 512;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<ShapeClasses>> shapes_;
};

// Walks the trie below one node (its descendants, not the node itself) from
// `start` and sets the mask bit of every token that can be read whole: the
// stack set after it is not empty or can end. Reuses its buffers; not
// reentrant.
class SubtreeWalker {
 public:
  void Walk(StackMachine& machine, const VocabIndex& vocab, int32_t node, const StateSet& start,
            uint64_t* mask);
  int64_t nodes_walked = 0;

 private:
  std::vector<StateSet> levels_;
  std::vector<uint32_t> marks_;
};

inline void SetBit(uint64_t* mask, int32_t id) { mask[id >> 6] |= uint64_t{1} << (id & 63); }

}  // namespace gemma::constrain
