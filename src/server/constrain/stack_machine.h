// Runs a Grammar on bytes and token ids. A parse state is a set of stacks (the
// grammar may be ambiguous, e.g. optional whitespace or anyOf); a stack is its
// top position (state, count) plus a parent frame. Parent frames are
// hash-consed in an arena, so equal stacks are equal triples and the set is
// deduplicated exactly. Sets hold only tops that can consume (a byte or a
// token edge): calls are expanded and completed rules popped eagerly
// (closure), and a completed root sets `can_end`.
//
// The same machine runs in "classify" mode for token_classes.cc: the stack
// then starts with a frame whose parent is kBottomFrame (the unknown rest of
// a real stack). That frame's counter starts at 0 and counts units relative to
// the real one; where the outcome depends on what lies below (popping the
// frame) or on the real counter (a count >= min check), the machine records an
// Escape instead of deciding.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "server/constrain/grammar.h"

namespace gemma::constrain {

inline constexpr int32_t kRootFrame = -1;
inline constexpr int32_t kBottomFrame = -2;

struct StackTop {
  int32_t state;
  int32_t count;
  int32_t parent;  // arena node, kRootFrame or kBottomFrame
  bool operator==(const StackTop&) const = default;
};

class StackArena {
 public:
  struct Node {
    int32_t state, count, parent;
    int32_t next;  // hash chain
  };
  StackArena();
  int32_t Intern(int32_t state, int32_t count, int32_t parent);
  const Node& operator[](int32_t i) const { return nodes_[i]; }
  uint32_t Mark() const { return static_cast<uint32_t>(nodes_.size()); }
  // Forgets every node interned after `mark` (nodes are undone newest first,
  // which restores each hash chain).
  void Rollback(uint32_t mark);
  size_t size() const { return nodes_.size(); }
  void Clear();

 private:
  static uint32_t Hash(int32_t state, int32_t count, int32_t parent);
  void Rehash(size_t buckets);
  std::vector<Node> nodes_;
  std::vector<int32_t> buckets_;
};

struct StateSet {
  std::vector<StackTop> tops;
  bool can_end = false;
  void Clear() {
    tops.clear();
    can_end = false;
  }
};

// What classify mode could not decide at the current position.
struct PendingEscape {
  int32_t k;             // units the bottom frame started so far
  int32_t resume_state;  // -1: the bottom frame completed (pop); else the state after
                         // a count >= min edge of the bottom frame
  uint8_t flags;         // kEscapeInc: that edge also starts a unit; kEscapeNeedMin
};
inline constexpr uint8_t kEscapeInc = 1;
inline constexpr uint8_t kEscapeNeedMin = 2;

class StackMachine {
 public:
  explicit StackMachine(const Grammar* grammar);
  const Grammar& grammar() const { return *g_; }
  StackArena& arena() { return arena_; }
  const StackArena& arena() const { return arena_; }

  // In classify mode, frames with parent kBottomFrame have relaxed counter
  // checks and record escapes into `escapes` (cleared by the caller).
  void set_classify(std::vector<PendingEscape>* escapes) { escapes_ = escapes; }

  // out = closure of the seeds (out is cleared first).
  void Closure(const std::vector<StackTop>& seeds, StateSet* out);
  void StepByte(const StateSet& in, uint8_t byte, StateSet* out);
  void StepToken(const StateSet& in, int32_t token, StateSet* out);
  // Whether `in` has a byte edge for `byte` at all (cheap pre-check).
  bool AnyByteEdge(const StateSet& in, uint8_t byte) const;

  // The stack under a completed top: the parent frame as a top.
  StackTop PopTo(int32_t parent) const {
    const StackArena::Node& n = arena_[parent];
    return {n.state, n.count, n.parent};
  }

 private:
  void NewGeneration();
  bool Visit(const StackTop& t);
  void Run(StateSet* out);
  bool RelaxedFrame(const StackTop& t) const { return escapes_ && t.parent == kBottomFrame; }
  // One more unit: capped on real frames; the relative count of a classify
  // frame stays exact (the real count it adds to is unknown).
  static int32_t Bumped(const RuleInfo& rule, int32_t count, bool relaxed) {
    return relaxed ? count + 1 : std::min(count + 1, rule.count_cap);
  }

  const Grammar* g_;
  StackArena arena_;
  std::vector<PendingEscape>* escapes_ = nullptr;
  std::vector<StackTop> work_;
  // Open-addressing set of the tops visited in the current closure.
  struct Slot {
    StackTop top;
    uint32_t generation;
  };
  std::vector<Slot> visited_;
  uint32_t generation_ = 0;
  size_t visited_count_ = 0;
};

}  // namespace gemma::constrain
