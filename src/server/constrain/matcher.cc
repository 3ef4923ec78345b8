#include "server/constrain/matcher.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

namespace gemma::constrain {

std::shared_ptr<const CompiledGrammar> CompiledGrammar::Create(
    Grammar grammar, std::shared_ptr<const VocabIndex> vocab,
    std::vector<int32_t> extra_end_tokens) {
  if (!vocab) throw CompileError("no vocabulary");
  for (const int32_t id : grammar.LiteralTokens()) {
    if (id >= vocab->size()) {
      throw CompileError("token literal " + std::to_string(id) + " is outside the vocabulary of " +
                         std::to_string(vocab->size()));
    }
  }
  std::shared_ptr<CompiledGrammar> c(new CompiledGrammar());
  c->end_tokens_ = vocab->end_tokens();
  for (const int32_t id : extra_end_tokens) {
    if (id < 0 || id >= vocab->size()) {
      throw CompileError("end token " + std::to_string(id) + " is outside the vocabulary");
    }
    c->end_tokens_.push_back(id);
  }
  std::sort(c->end_tokens_.begin(), c->end_tokens_.end());
  c->end_tokens_.erase(std::unique(c->end_tokens_.begin(), c->end_tokens_.end()),
                       c->end_tokens_.end());
  const size_t num_states = grammar.states().size();
  c->classes_ = std::make_unique<std::atomic<const StateClass*>[]>(num_states);
  for (size_t i = 0; i < num_states; ++i) c->classes_[i].store(nullptr);
  c->shapes_.resize(grammar.rules().size());
  for (size_t r = 0; r < grammar.rules().size(); ++r) {
    const RuleInfo& info = grammar.rules()[r];
    if (!info.leaf || info.state_begin == info.state_end) continue;
    c->shapes_[r] = vocab->class_cache().Find(grammar.LeafShapeKey(static_cast<int32_t>(r)),
                                              info.state_end - info.state_begin);
  }
  c->grammar_ = std::move(grammar);
  c->vocab_ = std::move(vocab);
  return c;
}

bool CompiledGrammar::IsEndToken(int32_t id) const {
  return std::binary_search(end_tokens_.begin(), end_tokens_.end(), id);
}

const StateClass& CompiledGrammar::ClassOf(int32_t state) const {
  if (const StateClass* c = classes_[state].load(std::memory_order_acquire)) return *c;
  const int32_t rule = grammar_.states()[state].rule;
  const StateClass* result;
  if (ShapeClasses* shape = shapes_[rule].get()) {
    std::lock_guard<std::mutex> lock(shape->mu);
    auto& slot = shape->classes[state - grammar_.rules()[rule].state_begin];
    if (!slot) {
      slot = ClassifyState(grammar_, state, *vocab_);
      computed_.fetch_add(1);
    }
    result = slot.get();
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    if (const StateClass* c = classes_[state].load(std::memory_order_acquire)) return *c;
    owned_.push_back(ClassifyState(grammar_, state, *vocab_));
    computed_.fetch_add(1);
    result = owned_.back().get();
  }
  classes_[state].store(result, std::memory_order_release);
  return *result;
}

void CompiledGrammar::PrecomputeClasses() const {
  for (size_t s = 0; s < grammar_.states().size(); ++s) {
    if (grammar_.states()[s].flags & kStateConsumes) ClassOf(static_cast<int32_t>(s));
  }
}

Matcher::Matcher(std::shared_ptr<const CompiledGrammar> grammar)
    : grammar_(std::move(grammar)), machine_(&grammar_->grammar()) {
  const int32_t start = grammar_->grammar().rules()[grammar_->grammar().root()].start;
  machine_.Closure({{start, 0, kRootFrame}}, &state_);
}

bool Matcher::Simulate(int32_t token, bool commit) {
  if (finished_ || token < 0 || token >= grammar_->vocab().size()) return false;
  const VocabIndex& vocab = grammar_->vocab();
  if (state_.can_end && grammar_->IsEndToken(token)) {
    if (commit) finished_ = true;
    return true;
  }
  const uint32_t mark = machine_.arena().Mark();
  bool ok;
  StateSet* result;
  if (vocab.kind(token) == TokenKind::kControl) {
    // Only where the grammar names the token as a literal.
    machine_.StepToken(state_, token, &scratch_a_);
    result = &scratch_a_;
    ok = !scratch_a_.tops.empty() || scratch_a_.can_end;
  } else {
    const std::string_view bytes = vocab.bytes(token);
    ok = !bytes.empty();
    const StateSet* cur = &state_;
    StateSet* next = &scratch_a_;
    for (size_t i = 0; ok && i < bytes.size(); ++i) {
      machine_.StepByte(*cur, static_cast<uint8_t>(bytes[i]), next);
      ok = !next->tops.empty() || (i + 1 == bytes.size() && next->can_end);
      cur = next;
      next = next == &scratch_a_ ? &scratch_b_ : &scratch_a_;
    }
    result = const_cast<StateSet*>(cur);
  }
  if (!commit || !ok) {
    machine_.arena().Rollback(mark);
    return ok;
  }
  std::swap(state_, *result);
  MaybeCompact();
  return true;
}

bool Matcher::Allows(int32_t token) { return Simulate(token, /*commit=*/false); }

bool Matcher::Accept(int32_t token) { return Simulate(token, /*commit=*/true); }

void Matcher::FillMask(std::span<uint64_t> mask) {
  const VocabIndex& vocab = grammar_->vocab();
  const size_t words = (static_cast<size_t>(vocab.size()) + 63) / 64;
  std::fill(mask.begin(), mask.end(), 0);
  walker_.nodes_walked = 0;
  if (mask.size() < words || finished_) return;
  uint64_t* bits = mask.data();
  if (state_.can_end) {
    for (const int32_t id : grammar_->end_tokens()) SetBit(bits, id);
  }
  const Grammar& g = grammar_->grammar();
  const uint32_t mark = machine_.arena().Mark();
  for (const StackTop& t : state_.tops) {
    const StateInfo& st = g.states()[t.state];
    const RuleInfo& rule = g.rules()[st.rule];
    const StateClass& c = grammar_->ClassOf(t.state);
    const int64_t remaining = rule.max_count == kUnbounded
                                  ? std::numeric_limits<int64_t>::max()
                                  : static_cast<int64_t>(rule.max_count) - t.count;
    c.AcceptedWithin(remaining).OrInto(bits);
    // Token literals, checked on the real stack.
    for (int32_t k = st.edge_begin; k < st.edge_end; ++k) {
      const Edge& e = g.edges()[k];
      if (e.kind != EdgeKind::kToken) continue;
      if ((e.flags & kEdgeInc) && t.count >= rule.max_count) continue;
      if ((e.flags & kEdgeNeedMin) && t.count < rule.min_count) continue;
      SetBit(bits, e.value);
    }
    // Escapes: resume on the real stack; one resumed set per distinct resume.
    struct Resumed {
      int32_t k, state;
      uint8_t flags;
      StateSet set;
    };
    std::vector<Resumed> resumed;
    for (const Escape& e : c.escapes) {
      const int64_t count = static_cast<int64_t>(t.count) + e.k;
      if (count > rule.max_count) continue;
      if ((e.flags & kEscapeNeedMin) && count < rule.min_count) continue;
      const int32_t inc = (e.flags & kEscapeInc) ? 1 : 0;
      if (inc && count + 1 > rule.max_count) continue;
      const int32_t state = e.resume_state < 0 ? -1 : e.resume_state + rule.state_begin;
      auto it = std::find_if(resumed.begin(), resumed.end(), [&](const Resumed& r) {
        return r.k == e.k && r.state == state && r.flags == e.flags;
      });
      if (it == resumed.end()) {
        resumed.push_back({e.k, state, e.flags, {}});
        it = resumed.end() - 1;
        seeds_.clear();
        if (state >= 0) {
          const int64_t resumed_count = std::min<int64_t>(count + inc, rule.count_cap);
          seeds_.push_back({state, static_cast<int32_t>(resumed_count), t.parent});
        } else if (t.parent != kRootFrame) {
          seeds_.push_back(machine_.PopTo(t.parent));
        }
        machine_.Closure(seeds_, &it->set);
        if (state < 0 && t.parent == kRootFrame) it->set.can_end = true;
      }
      const StateSet& set = it->set;
      if (e.tokens_here && (!set.tops.empty() || set.can_end)) {
        for (const int32_t id : vocab.TokensAt(e.node)) SetBit(bits, id);
      }
      if (e.subtree && !set.tops.empty()) walker_.Walk(machine_, vocab, e.node, set, bits);
    }
  }
  machine_.arena().Rollback(mark);
}

void Matcher::MaskLogits(std::span<float> logits) {
  const int32_t vocab_size = grammar_->vocab().size();
  mask_buffer_.resize((static_cast<size_t>(vocab_size) + 63) / 64);
  FillMask(mask_buffer_);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const size_t n = std::min(logits.size(), static_cast<size_t>(vocab_size));
  for (size_t w = 0; w * 64 < n; ++w) {
    const uint64_t word = mask_buffer_[w];
    if (word == ~uint64_t{0}) continue;
    const size_t end = std::min(n, w * 64 + 64);
    for (size_t i = w * 64; i < end; ++i) {
      if (!((word >> (i & 63)) & 1)) logits[i] = neg_inf;
    }
  }
  for (size_t i = n; i < logits.size(); ++i) logits[i] = neg_inf;
}

// The arena keeps every frame interned since the start; once most of it is
// garbage, copy the live frames (those under the current tops) to a new one.
void Matcher::MaybeCompact() {
  StackArena& arena = machine_.arena();
  if (arena.size() < 4096) return;
  std::unordered_map<int32_t, int32_t> remap;
  std::vector<int32_t> order;
  for (const StackTop& t : state_.tops) {
    for (int32_t p = t.parent; p >= 0 && !remap.count(p); p = arena[p].parent) {
      remap.emplace(p, -1);
      order.push_back(p);
    }
  }
  if (order.size() * 4 > arena.size()) return;
  std::vector<StackArena::Node> live;
  live.reserve(order.size());
  std::sort(order.begin(), order.end());  // parents were interned before children
  for (const int32_t p : order) live.push_back(arena[p]);
  arena.Clear();
  for (size_t i = 0; i < order.size(); ++i) {
    const StackArena::Node& n = live[i];
    const int32_t parent = n.parent >= 0 ? remap.at(n.parent) : n.parent;
    remap[order[i]] = arena.Intern(n.state, n.count, parent);
  }
  for (StackTop& t : state_.tops) {
    if (t.parent >= 0) t.parent = remap.at(t.parent);
  }
}

}  // namespace gemma::constrain
