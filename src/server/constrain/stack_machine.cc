#include "server/constrain/stack_machine.h"

namespace gemma::constrain {
namespace {

inline uint32_t Mix(uint32_t h, uint32_t v) {
  h ^= v + 0x9e3779b9u + (h << 6) + (h >> 2);
  return h;
}

}  // namespace

StackArena::StackArena() { Rehash(1024); }

uint32_t StackArena::Hash(int32_t state, int32_t count, int32_t parent) {
  uint32_t h = Mix(0x12345678u, static_cast<uint32_t>(state));
  h = Mix(h, static_cast<uint32_t>(count));
  h = Mix(h, static_cast<uint32_t>(parent));
  return h * 0x85ebca6bu;
}

void StackArena::Rehash(size_t buckets) {
  buckets_.assign(buckets, -1);
  // Oldest first, so each chain lists newest first as Rollback expects.
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    int32_t& head = buckets_[Hash(n.state, n.count, n.parent) & (buckets_.size() - 1)];
    n.next = head;
    head = static_cast<int32_t>(i);
  }
}

int32_t StackArena::Intern(int32_t state, int32_t count, int32_t parent) {
  const uint32_t h = Hash(state, count, parent);
  int32_t& head = buckets_[h & (buckets_.size() - 1)];
  for (int32_t i = head; i >= 0; i = nodes_[i].next) {
    const Node& n = nodes_[i];
    if (n.state == state && n.count == count && n.parent == parent) return i;
  }
  const int32_t id = static_cast<int32_t>(nodes_.size());
  nodes_.push_back({state, count, parent, head});
  head = id;
  if (nodes_.size() * 2 > buckets_.size()) Rehash(buckets_.size() * 2);
  return id;
}

void StackArena::Rollback(uint32_t mark) {
  while (nodes_.size() > mark) {
    const Node& n = nodes_.back();
    buckets_[Hash(n.state, n.count, n.parent) & (buckets_.size() - 1)] = n.next;
    nodes_.pop_back();
  }
}

void StackArena::Clear() {
  nodes_.clear();
  std::fill(buckets_.begin(), buckets_.end(), -1);
}

StackMachine::StackMachine(const Grammar* grammar) : g_(grammar) { visited_.resize(64); }

void StackMachine::NewGeneration() {
  visited_count_ = 0;
  if (++generation_ == 0) {  // wrapped: stale slots could look current
    std::fill(visited_.begin(), visited_.end(), Slot{{0, 0, 0}, 0});
    generation_ = 1;
  }
}

bool StackMachine::Visit(const StackTop& t) {
  if ((visited_count_ + 1) * 2 > visited_.size()) {
    std::vector<Slot> old;
    old.swap(visited_);
    visited_.assign(old.size() * 2, Slot{{0, 0, 0}, 0});
    visited_count_ = 0;
    for (const Slot& s : old) {
      if (s.generation == generation_) Visit(s.top);
    }
  }
  const size_t mask = visited_.size() - 1;
  size_t i = (static_cast<uint32_t>(t.state) * 0x9e3779b1u ^
              static_cast<uint32_t>(t.count) * 0x85ebca6bu ^
              static_cast<uint32_t>(t.parent) * 0xc2b2ae35u) &
             mask;
  while (visited_[i].generation == generation_) {
    if (visited_[i].top == t) return false;
    i = (i + 1) & mask;
  }
  visited_[i] = {t, generation_};
  ++visited_count_;
  return true;
}

// Expands work_ into out: keeps tops that consume, pushes a frame for each
// call (none when the return state is a tail), pops completed rules.
void StackMachine::Run(StateSet* out) {
  const auto& states = g_->states();
  const auto& edges = g_->edges();
  const auto& rules = g_->rules();
  while (!work_.empty()) {
    const StackTop t = work_.back();
    work_.pop_back();
    if (!Visit(t)) continue;
    const StateInfo& st = states[t.state];
    if (st.flags & kStateConsumes) out->tops.push_back(t);
    const RuleInfo& rule = rules[st.rule];
    const bool relaxed = RelaxedFrame(t);
    for (int32_t k = st.edge_end - 1; k >= st.edge_begin; --k) {
      const Edge& e = edges[k];
      if (e.kind != EdgeKind::kCall) break;  // calls are sorted last
      const int32_t inc = e.flags & kEdgeInc;
      if (inc && !relaxed && t.count >= rule.max_count) continue;
      const int32_t count = inc ? Bumped(rule, t.count, relaxed) : t.count;
      const int32_t parent = (states[e.target].flags & kStateTail)
                                 ? t.parent
                                 : arena_.Intern(e.target, count, t.parent);
      work_.push_back({rules[e.value].start, 0, parent});
    }
    const bool final = (st.flags & kStateFinal) ||
                       ((st.flags & kStateFinalNeedMin) && !relaxed && t.count >= rule.min_count);
    if (final) {
      if (t.parent == kRootFrame) {
        out->can_end = true;
      } else if (t.parent == kBottomFrame) {
        escapes_->push_back({t.count, -1, 0});
      } else {
        work_.push_back(PopTo(t.parent));
      }
    } else if (relaxed && (st.flags & kStateFinalNeedMin)) {
      escapes_->push_back({t.count, -1, kEscapeNeedMin});
    }
  }
}

void StackMachine::Closure(const std::vector<StackTop>& seeds, StateSet* out) {
  out->Clear();
  NewGeneration();
  work_.assign(seeds.rbegin(), seeds.rend());
  Run(out);
}

void StackMachine::StepByte(const StateSet& in, uint8_t byte, StateSet* out) {
  out->Clear();
  NewGeneration();
  work_.clear();
  const auto& states = g_->states();
  const auto& edges = g_->edges();
  const auto& rules = g_->rules();
  for (const StackTop& t : in.tops) {
    const StateInfo& st = states[t.state];
    const RuleInfo& rule = rules[st.rule];
    for (int32_t k = st.edge_begin; k < st.edge_end; ++k) {
      const Edge& e = edges[k];
      if (e.kind != EdgeKind::kBytes || e.lo > byte) break;
      if (byte > e.hi) continue;
      const int32_t inc = e.flags & kEdgeInc;
      if (RelaxedFrame(t)) {
        if (e.flags & kEdgeNeedMin) {
          escapes_->push_back({t.count, e.target,
                               static_cast<uint8_t>(kEscapeNeedMin | (inc ? kEscapeInc : 0))});
          continue;
        }
      } else {
        if (inc && t.count >= rule.max_count) continue;
        if ((e.flags & kEdgeNeedMin) && t.count < rule.min_count) continue;
      }
      work_.push_back({e.target, inc ? Bumped(rule, t.count, RelaxedFrame(t)) : t.count, t.parent});
    }
  }
  // The common case inside strings and literals: one successor whose closure
  // is itself.
  if (work_.size() == 1 && (states[work_[0].state].flags & kStateSimple)) {
    out->tops.push_back(work_[0]);
    work_.clear();
    return;
  }
  Run(out);
}

void StackMachine::StepToken(const StateSet& in, int32_t token, StateSet* out) {
  out->Clear();
  NewGeneration();
  work_.clear();
  const auto& states = g_->states();
  const auto& edges = g_->edges();
  const auto& rules = g_->rules();
  for (const StackTop& t : in.tops) {
    const StateInfo& st = states[t.state];
    const RuleInfo& rule = rules[st.rule];
    for (int32_t k = st.edge_begin; k < st.edge_end; ++k) {
      const Edge& e = edges[k];
      if (e.kind == EdgeKind::kBytes) continue;
      if (e.kind == EdgeKind::kCall) break;
      if (e.value != token) continue;
      const int32_t inc = e.flags & kEdgeInc;
      if (inc && t.count >= rule.max_count) continue;
      if ((e.flags & kEdgeNeedMin) && t.count < rule.min_count) continue;
      work_.push_back({e.target, inc ? Bumped(rule, t.count, false) : t.count, t.parent});
    }
  }
  Run(out);
}

bool StackMachine::AnyByteEdge(const StateSet& in, uint8_t byte) const {
  const auto& states = g_->states();
  const auto& edges = g_->edges();
  for (const StackTop& t : in.tops) {
    const StateInfo& st = states[t.state];
    for (int32_t k = st.edge_begin; k < st.edge_end; ++k) {
      const Edge& e = edges[k];
      if (e.kind != EdgeKind::kBytes || e.lo > byte) break;
      if (byte <= e.hi) return true;
    }
  }
  return false;
}

}  // namespace gemma::constrain
