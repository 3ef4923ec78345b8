#include "server/constrain/token_classes.h"

#include <algorithm>

namespace gemma::constrain {

TokenSet TokenSet::FromSorted(std::vector<int32_t> ids, int32_t vocab_size) {
  TokenSet s;
  s.count_ = ids.size();
  // A bitset costs vocab/8 bytes, a list 4 bytes per id.
  if (ids.size() * 32 > static_cast<size_t>(vocab_size)) {
    s.bits_.assign((static_cast<size_t>(vocab_size) + 63) / 64, 0);
    for (const int32_t id : ids) SetBit(s.bits_.data(), id);
  } else {
    s.ids_ = std::move(ids);
  }
  return s;
}

TokenSet TokenSet::FromBits(const std::vector<uint64_t>& bits, const std::vector<int32_t>& ids) {
  const int32_t vocab_size = static_cast<int32_t>(bits.size() * 64);
  if (ids.size() * 32 > static_cast<size_t>(vocab_size)) {
    TokenSet s;
    s.bits_ = bits;
    s.count_ = ids.size();
    return s;
  }
  std::vector<int32_t> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  return FromSorted(std::move(sorted), vocab_size);
}

void TokenSet::OrInto(uint64_t* mask) const {
  if (!bits_.empty()) {
    const size_t n = bits_.size();
    for (size_t i = 0; i < n; ++i) mask[i] |= bits_[i];
  } else {
    for (const int32_t id : ids_) SetBit(mask, id);
  }
}

bool TokenSet::Contains(int32_t id) const {
  if (!bits_.empty()) return (bits_[id >> 6] >> (id & 63)) & 1;
  return std::binary_search(ids_.begin(), ids_.end(), id);
}

namespace {

// Units the bottom frame has started, read from the frame itself: the top,
// or the return frame left on the stack while a callee runs.
int32_t BottomCount(const StackMachine& m, StackTop t) {
  while (t.parent != kBottomFrame) t = m.PopTo(t.parent);
  return t.count;
}

}  // namespace

std::unique_ptr<StateClass> ClassifyState(const Grammar& grammar, int32_t state,
                                          const VocabIndex& vocab) {
  auto out = std::make_unique<StateClass>();
  const RuleInfo& rule = grammar.rule_of(state);
  const bool counted = rule.max_count != kUnbounded;
  StackMachine m(&grammar);
  std::vector<PendingEscape> pending;
  m.set_classify(&pending);
  const auto& nodes = vocab.nodes();
  int max_depth = 0;
  for (int32_t i = 1; i < vocab.num_nodes(); ++i) max_depth = std::max<int>(max_depth, nodes[i].depth);
  std::vector<StateSet> levels(max_depth + 1);
  std::vector<uint32_t> marks(max_depth + 1, 0);
  levels[0].tops = {{state, 0, kBottomFrame}};
  marks[0] = m.arena().Mark();
  // The smallest k at which each token was accepted (INT32_MAX: not accepted).
  std::vector<int32_t> kmin(vocab.size(), INT32_MAX);
  std::vector<int32_t> accepted;
  auto accept_tokens_at = [&](int32_t node, int32_t k) {
    for (const int32_t id : vocab.TokensAt(node)) {
      if (kmin[id] == INT32_MAX) accepted.push_back(id);
      kmin[id] = std::min(kmin[id], k);
    }
  };
  std::vector<PendingEscape> seen;
  for (int32_t i = 1; i < vocab.num_nodes();) {
    const TrieNode& node = nodes[i];
    const int d = node.depth;
    m.arena().Rollback(marks[d - 1]);
    pending.clear();
    m.StepByte(levels[d - 1], node.byte, &levels[d]);
    marks[d] = m.arena().Mark();
    ++out->nodes_walked;
    const bool has_children = node.subtree_end > i + 1;
    seen.clear();
    for (const PendingEscape& p : pending) {
      const bool duplicate = std::any_of(seen.begin(), seen.end(), [&](const PendingEscape& q) {
        return q.k == p.k && q.resume_state == p.resume_state && q.flags == p.flags;
      });
      if (duplicate) continue;
      seen.push_back(p);
      const bool plain_pop = p.resume_state < 0 && !(p.flags & kEscapeNeedMin);
      // A plain end of the rule accepts the node's own tokens whatever lies
      // below (every real stack can go on after a completed rule); only the
      // bytes after it need the real stack.
      if (plain_pop) accept_tokens_at(i, p.k);
      if (!plain_pop || has_children) {
        out->escapes.push_back(
            {i, p.k, p.resume_state < 0 ? -1 : p.resume_state - rule.state_begin, p.flags,
             !plain_pop, has_children});
      }
    }
    const StateSet& here = levels[d];
    if (!here.tops.empty()) {
      int32_t k = 0;
      if (counted) {
        k = INT32_MAX;
        for (const StackTop& t : here.tops) k = std::min(k, BottomCount(m, t));
      }
      accept_tokens_at(i, k);
      ++i;
    } else {
      i = node.subtree_end;
    }
  }
  // Cumulative sets by k, each token at its smallest k.
  int32_t max_k = 0;
  if (counted) {
    for (const int32_t id : accepted) max_k = std::max(max_k, kmin[id]);
  }
  std::vector<std::vector<int32_t>> by_k(max_k + 1);
  for (const int32_t id : accepted) by_k[counted ? kmin[id] : 0].push_back(id);
  std::vector<uint64_t> bits((static_cast<size_t>(vocab.size()) + 63) / 64, 0);
  std::vector<int32_t> ids;
  for (int32_t k = 0; k <= max_k; ++k) {
    for (const int32_t id : by_k[k]) {
      ids.push_back(id);
      SetBit(bits.data(), id);
    }
    out->accepted.push_back(TokenSet::FromBits(bits, ids));
  }
  return out;
}

std::shared_ptr<ShapeClasses> ClassCache::Find(const std::string& key, int32_t num_states) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = shapes_.find(key);
  if (it != shapes_.end()) return it->second;
  auto shape = std::make_shared<ShapeClasses>();
  shape->classes.resize(num_states);
  if (shapes_.size() < kMaxShapes) shapes_.emplace(key, shape);
  return shape;
}

size_t ClassCache::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return shapes_.size();
}

void SubtreeWalker::Walk(StackMachine& m, const VocabIndex& vocab, int32_t node,
                         const StateSet& start, uint64_t* mask) {
  const auto& nodes = vocab.nodes();
  const int32_t end = nodes[node].subtree_end;
  if (end <= node + 1) return;
  const int base = nodes[node].depth;
  if (levels_.empty()) {
    int max_depth = 0;
    for (int32_t i = 1; i < vocab.num_nodes(); ++i) {
      max_depth = std::max<int>(max_depth, nodes[i].depth);
    }
    levels_.resize(max_depth + 1);
    marks_.resize(max_depth + 1);
  }
  levels_[0].tops = start.tops;
  levels_[0].can_end = start.can_end;
  marks_[0] = m.arena().Mark();
  for (int32_t i = node + 1; i < end;) {
    const TrieNode& n = nodes[i];
    const int d = n.depth - base;
    m.arena().Rollback(marks_[d - 1]);
    StateSet& here = levels_[d];
    m.StepByte(levels_[d - 1], n.byte, &here);
    marks_[d] = m.arena().Mark();
    ++nodes_walked;
    if (!here.tops.empty() || here.can_end) {
      for (const int32_t id : vocab.TokensAt(i)) SetBit(mask, id);
    }
    i = here.tops.empty() ? n.subtree_end : i + 1;
  }
  m.arena().Rollback(marks_[0]);
}

}  // namespace gemma::constrain
