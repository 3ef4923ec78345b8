#include "server/constrain/grammar.h"

#include <algorithm>
#include <array>
#include <map>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "server/constrain/partition_refinement.h"

namespace gemma::constrain {
namespace {

// Expression trees are built by our compilers with bounded nesting; this is
// the guard against a pathological one exhausting the C++ stack.
constexpr int kMaxExprDepth = 2000;

// NFA edges live in two flat lists, chained per state (no allocation per state).
struct NfaEdge {
  EdgeKind kind;
  uint8_t lo, hi;
  int32_t value;
  int32_t target;
  int32_t next;  // next edge of the same state, -1 at the end
};
struct NfaEps {
  int32_t target;
  uint8_t flags;
  int32_t next;
};

struct DfaState {
  uint8_t flags = 0;        // kStateFinal / kStateFinalNeedMin
  std::vector<Edge> edges;  // targets are rule-local DFA ids
};

struct VectorHash {
  size_t operator()(const std::vector<uint64_t>& v) const {
    uint64_t h = 1469598103934665603ull;
    for (const uint64_t x : v) h = (h ^ x) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

}  // namespace

// Compiles one rule: expression -> Thompson NFA (with count flags on epsilon
// edges) -> DFA whose edges carry the flags collected on the epsilon path
// before them.
class RuleCompiler {
 public:
  explicit RuleCompiler(const GrammarBuilder& b) : b_(b) {}

  std::vector<DfaState> Compile(const GrammarBuilder::RuleDef& def) {
    int32_t start, accept;
    if (def.counted) {
      BuildCounted(def.loop, &start, &accept);
    } else {
      const auto [s, e] = Fragment(def.body, 0);
      start = s;
      accept = e;
    }
    accept_ = accept;
    return Minimize(Determinize(start, def.name));
  }

 private:
  int32_t NewState() {
    edge_head_.push_back(-1);
    eps_head_.push_back(-1);
    if (static_cast<int64_t>(edge_head_.size()) > 4 * b_.limits_.max_expr_nodes + 64) {
      throw CompileError("grammar too large (more than " +
                         std::to_string(b_.limits_.max_expr_nodes) + " expression nodes)");
    }
    return static_cast<int32_t>(edge_head_.size()) - 1;
  }
  void Eps(int32_t from, int32_t to, uint8_t flags = 0) {
    eps_.push_back({to, flags, eps_head_[from]});
    eps_head_[from] = static_cast<int32_t>(eps_.size()) - 1;
  }
  void AddEdge(int32_t from, EdgeKind kind, uint8_t lo, uint8_t hi, int32_t value, int32_t to) {
    edges_.push_back({kind, lo, hi, value, to, edge_head_[from]});
    edge_head_[from] = static_cast<int32_t>(edges_.size()) - 1;
  }

  std::pair<int32_t, int32_t> Fragment(GrammarBuilder::Expr e, int depth) {
    if (depth > kMaxExprDepth) throw CompileError("grammar expression nested too deeply");
    const auto& node = b_.exprs_[e];
    using Op = GrammarBuilder::Op;
    const int32_t s = NewState();
    switch (node.op) {
      case Op::kEmpty: {
        const int32_t t = NewState();
        Eps(s, t);
        return {s, t};
      }
      case Op::kNothing:
        return {s, NewState()};
      case Op::kBytes:
      case Op::kToken:
      case Op::kCall: {
        const int32_t t = NewState();
        const EdgeKind kind = node.op == Op::kBytes   ? EdgeKind::kBytes
                              : node.op == Op::kToken ? EdgeKind::kToken
                                                      : EdgeKind::kCall;
        AddEdge(s, kind, node.lo, node.hi, node.value, t);
        return {s, t};
      }
      case Op::kSeq: {
        int32_t cur = s;
        for (int32_t i = node.child_begin; i < node.child_end; ++i) {
          const auto [cs, ce] = Fragment(b_.children_[i], depth + 1);
          Eps(cur, cs);
          cur = ce;
        }
        return {s, cur};
      }
      case Op::kAlt: {
        const int32_t t = NewState();
        for (int32_t i = node.child_begin; i < node.child_end; ++i) {
          const auto [cs, ce] = Fragment(b_.children_[i], depth + 1);
          Eps(s, cs);
          Eps(ce, t);
        }
        return {s, t};
      }
      case Op::kRepeat: {
        const GrammarBuilder::Expr child = b_.children_[node.child_begin];
        const int32_t min = node.value, max = node.value2;
        int32_t cur = s;
        for (int32_t i = 0; i < min; ++i) {
          const auto [cs, ce] = Fragment(child, depth + 1);
          Eps(cur, cs);
          cur = ce;
        }
        const int32_t t = NewState();
        if (max == kUnbounded) {
          const auto [cs, ce] = Fragment(child, depth + 1);
          Eps(cur, cs);
          Eps(ce, cur);
          Eps(cur, t);
          return {s, t};
        }
        // Optional copies, each one may stop: (e (e (e)?)?)?.
        for (int32_t i = min; i < max; ++i) {
          Eps(cur, t);
          const auto [cs, ce] = Fragment(child, depth + 1);
          Eps(cur, cs);
          cur = ce;
        }
        Eps(cur, t);
        return {s, t};
      }
      case Op::kGraph: {
        std::vector<int32_t> ids(node.value);
        ids[0] = s;
        for (int32_t i = 1; i < node.value; ++i) ids[i] = NewState();
        for (int32_t i = node.child_begin; i < node.child_end; ++i) {
          const GrammarBuilder::GraphEdge& ge = b_.graph_edges_[i];
          const auto [cs, ce] = Fragment(ge.label, depth + 1);
          Eps(ids[ge.from], cs);
          Eps(ce, ids[ge.to]);
        }
        return {s, ids[node.value - 1]};
      }
    }
    throw CompileError("internal: unknown expression");
  }

  void BuildCounted(const GrammarBuilder::CountedLoop& loop, int32_t* start, int32_t* accept) {
    // Units are counted when a bound needs the count.
    const uint8_t inc = loop.max != kUnbounded || loop.min > 0 ? kEdgeInc : 0;
    const uint8_t need_min = loop.min > 0 ? kEdgeNeedMin : 0;
    const auto [ps, pe] = Fragment(loop.prefix, 0);
    const auto [us, ue] = Fragment(loop.unit, 0);
    const auto [ss, se] = Fragment(loop.separator, 0);
    const auto [xs, xe] = Fragment(loop.suffix, 0);
    const int32_t after_unit = NewState();
    const int32_t end = NewState();
    if (loop.max > 0) Eps(pe, us, inc);
    if (loop.min == 0) {
      const auto [es, ee] = Fragment(loop.empty_suffix, 0);
      Eps(pe, es);
      Eps(ee, end);
    }
    Eps(ue, after_unit);
    Eps(after_unit, xs, need_min);
    // The count check sits on the separator's first symbol, not on the next
    // unit's: a separator must only be written when another unit may follow,
    // or the output would reach a dead end after it.
    Eps(after_unit, ss, inc);
    Eps(se, us);
    Eps(xe, end);
    *start = ps;
    *accept = end;
  }

  // Epsilon closure of (state, flags) pairs, flags OR-ed along the path.
  // Into closure_ (reused: most closures name a state already interned, and
  // allocating for each was a large part of a schema's compile time).
  const std::vector<uint64_t>& Closure(const std::vector<std::pair<int32_t, uint8_t>>& seeds,
                                       const std::string& rule) {
    std::vector<uint64_t>& out = closure_;
    out.clear();
    std::vector<std::pair<int32_t, uint8_t>>& work = work_;
    work.assign(seeds.begin(), seeds.end());
    while (!work.empty()) {
      const auto [s, f] = work.back();
      work.pop_back();
      const uint64_t key = (static_cast<uint64_t>(s) << 8) | f;
      if (seen_.size() < edge_head_.size()) seen_.resize(edge_head_.size(), 0);
      const uint8_t bit = static_cast<uint8_t>(1u << f);
      if (seen_[s] & bit) continue;
      seen_[s] |= bit;
      touched_.push_back(s);
      out.push_back(key);
      for (int32_t i = eps_head_[s]; i >= 0; i = eps_[i].next) {
        const NfaEps& e = eps_[i];
        if ((f & e.flags & kEdgeInc) != 0) {
          throw CompileError("rule " + rule + ": a counted unit can match the empty string");
        }
        work.push_back({e.target, static_cast<uint8_t>(f | e.flags)});
      }
    }
    for (const int32_t s : touched_) seen_[s] = 0;
    touched_.clear();
    std::sort(out.begin(), out.end());
    return out;
  }

  std::vector<DfaState> Determinize(int32_t start, const std::string& rule) {
    std::vector<DfaState> dfa;
    // Each subset once, as a key of `ids`; `sets` points at the keys (nodes
    // of an unordered_map stay put when it grows). With a copy in `sets` and
    // one per state processed, a rule refused at max_subset_members peaked
    // at 93 MB instead of 72 (the fuzzer's build).
    std::unordered_map<std::vector<uint64_t>, int32_t, VectorHash> ids;
    std::vector<const std::vector<uint64_t>*> sets;
    int64_t members = 0;  // NFA states over all DFA states: the work and memory
    auto intern = [&](const std::vector<uint64_t>& set) {
      // One lookup: the set is copied into the map only when it is new (a
      // refusal below throws the whole map away).
      const int32_t id = static_cast<int32_t>(sets.size());
      const auto [it, inserted] = ids.try_emplace(set, id);
      if (!inserted) return it->second;
      if (id >= b_.limits_.max_rule_dfa_states) {
        throw CompileError("rule " + rule + " is too complex (more than " +
                           std::to_string(b_.limits_.max_rule_dfa_states) + " automaton states)");
      }
      members += static_cast<int64_t>(set.size());
      if (members > b_.limits_.max_subset_members) {
        throw CompileError("rule " + rule + " is too complex (its automaton's " +
                           std::to_string(id + 1) + " states stand for more than " +
                           std::to_string(b_.limits_.max_subset_members) + " pattern positions)");
      }
      sets.push_back(&it->first);
      dfa.emplace_back();
      return id;
    };
    intern(Closure({{start, 0}}, rule));
    // Per-state scratch, reused across states: a std::map of edge groups and
    // five vectors per state were a quarter of the fuzzer's time in the
    // allocator.
    struct SymEdge {
      int kind;
      int32_t value;
      uint8_t flags;
      int32_t target;
    };
    struct ByteEdge {
      uint8_t lo, hi, flags;
      int32_t target;
    };
    std::vector<SymEdge> sym;
    std::vector<ByteEdge> byte_edges;
    std::vector<int> cuts;
    std::vector<std::pair<int32_t, uint8_t>> targets;
    for (size_t d = 0; d < sets.size(); ++d) {
      const std::vector<uint64_t>& members = *sets[d];
      uint8_t state_flags = 0;
      sym.clear();
      byte_edges.clear();
      for (const uint64_t m : members) {
        const int32_t s = static_cast<int32_t>(m >> 8);
        const uint8_t f = static_cast<uint8_t>(m & 0xff);
        if (s == accept_) {
          if (f & kEdgeInc) throw CompileError("rule " + rule + ": a counted unit can be empty");
          state_flags |= (f & kEdgeNeedMin) ? kStateFinalNeedMin : kStateFinal;
        }
        for (int32_t i = edge_head_[s]; i >= 0; i = edges_[i].next) {
          const NfaEdge& e = edges_[i];
          if (e.kind == EdgeKind::kBytes) {
            byte_edges.push_back({e.lo, e.hi, f, e.target});
          } else {
            if (e.kind == EdgeKind::kCall && (f & kEdgeNeedMin)) {
              throw CompileError("rule " + rule +
                                 ": the suffix of a counted rule must begin with a byte or token");
            }
            sym.push_back({static_cast<int>(e.kind), e.value, f, e.target});
          }
        }
      }
      if (state_flags & kStateFinal) state_flags = kStateFinal;
      dfa[d].flags = state_flags;
      // Byte edges: split [0, 255] at every range boundary, per flag value.
      std::vector<Edge> edges;
      for (uint8_t f = 0; f < 4; ++f) {
        cuts.clear();
        for (const ByteEdge& e : byte_edges) {
          if (e.flags != f) continue;
          cuts.push_back(e.lo);
          cuts.push_back(e.hi + 1);
        }
        if (cuts.empty()) continue;
        std::sort(cuts.begin(), cuts.end());
        cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
        for (size_t i = 0; i + 1 < cuts.size(); ++i) {
          const int lo = cuts[i], hi = cuts[i + 1] - 1;
          targets.clear();
          for (const ByteEdge& e : byte_edges) {
            if (e.flags == f && e.lo <= lo && hi <= e.hi) targets.push_back({e.target, 0});
          }
          if (targets.empty()) continue;
          const int32_t t = intern(Closure(targets, rule));
          if (!edges.empty() && edges.back().kind == EdgeKind::kBytes && edges.back().flags == f &&
              edges.back().target == t && edges.back().hi + 1 == lo) {
            edges.back().hi = static_cast<uint8_t>(hi);
          } else {
            edges.push_back(
                {EdgeKind::kBytes, static_cast<uint8_t>(lo), static_cast<uint8_t>(hi), f, 0, t});
          }
        }
      }
      // Token and call edges grouped by (kind, value, flags), in that order;
      // the stable sort keeps each group's targets in the order found.
      const auto key = [](const SymEdge& e) { return std::tuple(e.kind, e.value, e.flags); };
      std::stable_sort(sym.begin(), sym.end(),
                       [&](const SymEdge& a, const SymEdge& b) { return key(a) < key(b); });
      for (size_t i = 0; i < sym.size();) {
        size_t j = i;
        targets.clear();
        for (; j < sym.size() && key(sym[j]) == key(sym[i]); ++j)
          targets.push_back({sym[j].target, 0});
        const int32_t t = intern(Closure(targets, rule));
        edges.push_back({static_cast<EdgeKind>(sym[i].kind), 0, 0, sym[i].flags, sym[i].value, t});
        i = j;
      }
      dfa[d].edges = std::move(edges);
    }
    return dfa;
  }

  // Merges equivalent states: subset construction leaves e.g. one "between
  // characters" state per character form in a JSON string, and every
  // consuming state costs a token class. Byte edges become one transition per
  // piece of [0, 255] that no edge boundary of the rule cuts, labelled with
  // the piece and the edge's flags; token and call edges are labelled with
  // their kind, value and flags.
  static std::vector<DfaState> Minimize(const std::vector<DfaState>& dfa) {
    const size_t n = dfa.size();
    std::vector<int32_t> initial(n);
    for (size_t s = 0; s < n; ++s) initial[s] = dfa[s].flags;
    std::array<bool, 257> cut{};
    for (const DfaState& st : dfa) {
      for (const Edge& e : st.edges) {
        if (e.kind != EdgeKind::kBytes) continue;
        cut[e.lo] = true;
        cut[e.hi + 1] = true;
      }
    }
    std::array<int32_t, 256> piece{};
    for (int b = 0, p = -1; b < 256; ++b) {
      if (cut[b]) ++p;
      piece[b] = p;  // bytes before the first cut belong to no edge
    }
    std::map<std::tuple<int, int32_t, uint8_t>, int32_t> symbol_labels;
    constexpr int32_t kByteLabels = 4 * 256;  // per flags value (kEdgeInc | kEdgeNeedMin)
    std::vector<LabelledTransition> transitions;
    for (size_t s = 0; s < n; ++s) {
      const auto from = static_cast<int32_t>(s);
      for (const Edge& e : dfa[s].edges) {
        if (e.kind == EdgeKind::kBytes) {
          for (int32_t p = piece[e.lo]; p <= piece[e.hi]; ++p) {
            transitions.push_back({from, e.flags * 256 + p, e.target});
          }
        } else {
          const auto key = std::make_tuple(static_cast<int>(e.kind), e.value, e.flags);
          const auto it =
              symbol_labels.emplace(key, kByteLabels + static_cast<int32_t>(symbol_labels.size()))
                  .first;
          transitions.push_back({from, it->second, e.target});
        }
      }
    }
    const std::vector<int32_t> cls = CoarsestStablePartition(initial, transitions);
    const int32_t num_classes = n == 0 ? 0 : *std::max_element(cls.begin(), cls.end()) + 1;
    std::vector<DfaState> out(num_classes);
    std::vector<char> done(num_classes, 0);
    std::vector<Edge> sorted, merged;
    for (size_t s = 0; s < n; ++s) {
      const int32_t c = cls[s];
      if (done[c]) continue;
      done[c] = 1;
      out[c].flags = dfa[s].flags;
      NormalizedEdges(dfa[s], cls, &sorted, &merged);
      out[c].edges = merged;
    }
    return out;
  }

  // Edges with targets replaced by their class, adjacent byte ranges with the
  // same class and flags merged, into *out (`sorted` is scratch).
  static void NormalizedEdges(const DfaState& st, const std::vector<int32_t>& cls,
                              std::vector<Edge>* sorted, std::vector<Edge>* out) {
    std::vector<Edge>& edges = *sorted;
    edges.assign(st.edges.begin(), st.edges.end());
    for (Edge& e : edges) e.target = cls[e.target];
    std::sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) {
      if (a.kind != b.kind) return a.kind < b.kind;
      if (a.flags != b.flags) return a.flags < b.flags;
      if (a.kind == EdgeKind::kBytes) return a.lo < b.lo;
      if (a.value != b.value) return a.value < b.value;
      return a.target < b.target;
    });
    out->clear();
    for (const Edge& e : edges) {
      if (!out->empty() && e.kind == EdgeKind::kBytes && out->back().kind == EdgeKind::kBytes &&
          out->back().flags == e.flags && out->back().target == e.target &&
          out->back().hi + 1 == e.lo) {
        out->back().hi = e.hi;
      } else {
        out->push_back(e);
      }
    }
  }

  const GrammarBuilder& b_;
  std::vector<int32_t> edge_head_, eps_head_;  // per NFA state
  std::vector<NfaEdge> edges_;
  std::vector<NfaEps> eps_;
  int32_t accept_ = -1;
  std::vector<uint8_t> seen_;
  std::vector<int32_t> touched_;
  std::vector<uint64_t> closure_;
  std::vector<std::pair<int32_t, uint8_t>> work_;
};

GrammarBuilder::GrammarBuilder(BuildLimits limits) : limits_(limits) {
  empty_ = Add({Op::kEmpty});
  nothing_ = Add({Op::kNothing});
}

GrammarBuilder::Expr GrammarBuilder::Add(Node node) {
  if (static_cast<int64_t>(exprs_.size()) >= limits_.max_expr_nodes) {
    throw CompileError("grammar too large (more than " + std::to_string(limits_.max_expr_nodes) +
                       " expression nodes)");
  }
  exprs_.push_back(node);
  return static_cast<Expr>(exprs_.size()) - 1;
}

GrammarBuilder::Expr GrammarBuilder::Empty() { return empty_; }
GrammarBuilder::Expr GrammarBuilder::Nothing() { return nothing_; }

GrammarBuilder::Expr GrammarBuilder::Bytes(uint8_t lo, uint8_t hi) {
  if (lo > hi) return nothing_;
  Node n{Op::kBytes};
  n.lo = lo;
  n.hi = hi;
  return Add(n);
}

GrammarBuilder::Expr GrammarBuilder::Literal(std::string_view bytes) {
  std::vector<Expr> parts;
  for (const char c : bytes) parts.push_back(Byte(static_cast<uint8_t>(c)));
  return Seq(std::move(parts));
}

GrammarBuilder::Expr GrammarBuilder::Token(int32_t id) {
  if (id < 0) throw CompileError("token literal with a negative id");
  Node n{Op::kToken};
  n.value = id;
  return Add(n);
}

GrammarBuilder::Expr GrammarBuilder::Call(Rule rule) {
  if (rule < 0 || rule >= num_rules()) throw CompileError("call of an unknown rule");
  Node n{Op::kCall};
  n.value = rule;
  return Add(n);
}

GrammarBuilder::Expr GrammarBuilder::Seq(std::vector<Expr> parts) {
  std::vector<Expr> kept;
  for (const Expr p : parts) {
    if (p == nothing_) return nothing_;
    if (p != empty_) kept.push_back(p);
  }
  if (kept.empty()) return empty_;
  if (kept.size() == 1) return kept[0];
  Node n{Op::kSeq};
  n.child_begin = static_cast<int32_t>(children_.size());
  children_.insert(children_.end(), kept.begin(), kept.end());
  n.child_end = static_cast<int32_t>(children_.size());
  return Add(n);
}

GrammarBuilder::Expr GrammarBuilder::Alt(std::vector<Expr> options) {
  std::vector<Expr> kept;
  for (const Expr o : options) {
    if (o != nothing_) kept.push_back(o);
  }
  if (kept.empty()) return nothing_;
  if (kept.size() == 1) return kept[0];
  Node n{Op::kAlt};
  n.child_begin = static_cast<int32_t>(children_.size());
  children_.insert(children_.end(), kept.begin(), kept.end());
  n.child_end = static_cast<int32_t>(children_.size());
  return Add(n);
}

GrammarBuilder::Expr GrammarBuilder::Repeat(Expr e, int32_t min, int32_t max) {
  if (min < 0 || max < min) throw CompileError("repetition with invalid bounds");
  if (max == 0 || e == empty_) return empty_;
  if (e == nothing_) return min == 0 ? empty_ : nothing_;
  if (min == 1 && max == 1) return e;
  const int64_t copies = max == kUnbounded ? min + 1 : max;
  // Each copy instantiates the child again in the automaton.
  if (copies * (1 + static_cast<int64_t>(exprs_.size() - e)) > limits_.max_expr_nodes &&
      copies > 1024) {
    throw CompileError("repetition too large (" + std::to_string(copies) + " copies)");
  }
  Node n{Op::kRepeat};
  n.value = min;
  n.value2 = max;
  n.child_begin = static_cast<int32_t>(children_.size());
  children_.push_back(e);
  n.child_end = static_cast<int32_t>(children_.size());
  return Add(n);
}

GrammarBuilder::Expr GrammarBuilder::Graph(int32_t num_nodes, std::vector<GraphEdge> edges) {
  if (num_nodes < 1) throw CompileError("graph without nodes");
  Node n{Op::kGraph};
  n.value = num_nodes;
  n.child_begin = static_cast<int32_t>(graph_edges_.size());
  for (const GraphEdge& e : edges) {
    if (e.from < 0 || e.from >= num_nodes || e.to < 0 || e.to >= num_nodes) {
      throw CompileError("graph edge outside its nodes");
    }
    if (e.label != nothing_) graph_edges_.push_back(e);
  }
  n.child_end = static_cast<int32_t>(graph_edges_.size());
  return Add(n);
}

GrammarBuilder::Expr GrammarBuilder::Star(Expr e) { return Repeat(e, 0, kUnbounded); }
GrammarBuilder::Expr GrammarBuilder::Plus(Expr e) { return Repeat(e, 1, kUnbounded); }
GrammarBuilder::Expr GrammarBuilder::Optional(Expr e) { return Alt({e, empty_}); }

GrammarBuilder::Rule GrammarBuilder::AddRule(std::string name) {
  if (rule_defs_.size() >= static_cast<size_t>(limits_.max_states)) {
    throw CompileError("grammar has too many rules");
  }
  RuleDef def;
  def.name = std::move(name);
  rule_defs_.push_back(std::move(def));
  return static_cast<Rule>(rule_defs_.size()) - 1;
}

void GrammarBuilder::SetBody(Rule rule, Expr body) {
  RuleDef& d = rule_defs_.at(rule);
  if (d.defined) throw CompileError("rule " + d.name + " defined twice");
  d.defined = true;
  d.body = body;
}

void GrammarBuilder::SetCountedBody(Rule rule, const CountedLoop& loop) {
  RuleDef& d = rule_defs_.at(rule);
  if (d.defined) throw CompileError("rule " + d.name + " defined twice");
  if (loop.min < 0 || loop.max < loop.min) {
    throw CompileError("rule " + d.name + ": count bounds " + std::to_string(loop.min) + ".." +
                       std::to_string(loop.max) + " are invalid");
  }
  d.defined = true;
  d.counted = true;
  d.loop = loop;
}

Grammar GrammarBuilder::Build(Rule root) {
  if (root < 0 || root >= num_rules()) throw CompileError("unknown root rule");
  const int32_t num = num_rules();
  std::vector<std::vector<DfaState>> dfas(num);
  int64_t total_states = 0;
  for (int32_t r = 0; r < num; ++r) {
    if (!rule_defs_[r].defined) {
      throw CompileError("rule " + rule_defs_[r].name + " is used but never defined");
    }
    RuleCompiler compiler(*this);
    dfas[r] = compiler.Compile(rule_defs_[r]);
    total_states += static_cast<int64_t>(dfas[r].size());
    if (total_states > limits_.max_states) {
      throw CompileError("grammar too large (more than " + std::to_string(limits_.max_states) +
                         " automaton states)");
    }
  }
  // Productive rules (can match some string) and, per rule, the states from
  // which an end is reachable; iterate because calls depend on callees.
  std::vector<char> productive(num, 0);
  std::vector<std::vector<char>> live(num);
  for (bool changed = true; changed;) {
    changed = false;
    for (int32_t r = 0; r < num; ++r) {
      const auto& dfa = dfas[r];
      const auto n = static_cast<int32_t>(dfa.size());
      auto usable = [&](const Edge& e) { return e.kind != EdgeKind::kCall || productive[e.value]; };
      // Backwards from the final states over usable edges (one pass per
      // state's predecessors; sweeping all states until nothing changed was
      // quadratic on a long chain).
      std::vector<int32_t> pred_begin(n + 1, 0);
      for (const DfaState& st : dfa) {
        for (const Edge& e : st.edges) {
          if (usable(e)) ++pred_begin[e.target + 1];
        }
      }
      for (int32_t s = 0; s < n; ++s) pred_begin[s + 1] += pred_begin[s];
      std::vector<int32_t> preds(pred_begin[n]);
      std::vector<int32_t> fill(pred_begin.begin(), pred_begin.end() - 1);
      for (int32_t s = 0; s < n; ++s) {
        for (const Edge& e : dfa[s].edges) {
          if (usable(e)) preds[fill[e.target]++] = s;
        }
      }
      std::vector<char>& l = live[r];
      l.assign(n, 0);
      std::vector<int32_t> queue;
      for (int32_t s = 0; s < n; ++s) {
        if (dfa[s].flags != 0) {
          l[s] = 1;
          queue.push_back(s);
        }
      }
      for (size_t i = 0; i < queue.size(); ++i) {
        const int32_t t = queue[i];
        for (int32_t k = pred_begin[t]; k < pred_begin[t + 1]; ++k) {
          if (!l[preds[k]]) {
            l[preds[k]] = 1;
            queue.push_back(preds[k]);
          }
        }
      }
      if (!productive[r] && n > 0 && l[0]) productive[r] = changed = 1;
    }
  }
  if (!productive[root]) {
    throw CompileError("the grammar matches nothing (" + rule_defs_[root].name + ")");
  }
  // Keep live edges, then the states reachable from each rule's start.
  Grammar g;
  g.rules_.resize(num);
  std::vector<std::vector<int32_t>> global_id(num);
  for (int32_t r = 0; r < num; ++r) {
    auto& dfa = dfas[r];
    for (auto& st : dfa) {
      std::erase_if(st.edges, [&](const Edge& e) {
        return !live[r][e.target] || (e.kind == EdgeKind::kCall && !productive[e.value]);
      });
    }
    std::vector<int32_t>& ids = global_id[r];
    ids.assign(dfa.size(), -1);
    RuleInfo& info = g.rules_[r];
    info.name = rule_defs_[r].name;
    if (rule_defs_[r].counted) {
      info.min_count = rule_defs_[r].loop.min;
      info.max_count = rule_defs_[r].loop.max;
      info.count_cap = info.max_count == kUnbounded ? info.min_count : info.max_count;
    }
    info.state_begin = static_cast<int32_t>(g.states_.size());
    if (!productive[r]) {
      info.start = info.state_end = info.state_begin;  // never called
      continue;
    }
    std::vector<int32_t> order = {0};
    ids[0] = info.state_begin;
    for (size_t i = 0; i < order.size(); ++i) {
      for (const Edge& e : dfa[order[i]].edges) {
        if (ids[e.target] < 0) {
          ids[e.target] = info.state_begin + static_cast<int32_t>(order.size());
          order.push_back(e.target);
        }
      }
    }
    info.start = info.state_begin;
    for (const int32_t local : order) {
      StateInfo st{r, static_cast<int32_t>(g.edges_.size()), 0, dfa[local].flags};
      std::vector<Edge> edges = dfa[local].edges;
      std::stable_sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) {
        if (a.kind != b.kind) return a.kind < b.kind;
        return a.kind == EdgeKind::kBytes ? a.lo < b.lo : a.value < b.value;
      });
      for (Edge e : edges) {
        e.target = ids[e.target];
        if (e.kind != EdgeKind::kCall) st.flags |= kStateConsumes;
        if (e.kind == EdgeKind::kCall) info.leaf = false;
        g.edges_.push_back(e);
      }
      st.edge_end = static_cast<int32_t>(g.edges_.size());
      if (st.edge_begin == st.edge_end && st.flags == kStateFinal) st.flags |= kStateTail;
      if (st.flags == kStateConsumes &&
          (st.edge_begin == st.edge_end || g.edges_[st.edge_end - 1].kind != EdgeKind::kCall)) {
        st.flags |= kStateSimple;
      }
      g.states_.push_back(st);
    }
    info.state_end = static_cast<int32_t>(g.states_.size());
  }
  g.root_ = root;
  // No rule may reach a call of itself without consuming input: that would
  // expand forever. Nullable rules are those whose start reaches a final
  // state through calls of nullable rules only.
  std::vector<char> nullable(num, 0);
  std::vector<std::vector<int32_t>> region(num);  // states reached from start without input
  for (bool changed = true; changed;) {
    changed = false;
    for (int32_t r = 0; r < num; ++r) {
      const RuleInfo& info = g.rules_[r];
      if (info.start == info.state_end) continue;
      std::vector<int32_t> reached = {info.start};
      std::vector<char> seen(info.state_end - info.state_begin, 0);
      seen[0] = 1;
      bool can_end = false;
      for (size_t i = 0; i < reached.size(); ++i) {
        const StateInfo& st = g.states_[reached[i]];
        if (st.flags & kStateFinal) can_end = true;
        if ((st.flags & kStateFinalNeedMin) && info.min_count == 0) can_end = true;
        for (int32_t k = st.edge_begin; k < st.edge_end; ++k) {
          const Edge& e = g.edges_[k];
          if (e.kind != EdgeKind::kCall || !nullable[e.value]) continue;
          if (!seen[e.target - info.state_begin]) {
            seen[e.target - info.state_begin] = 1;
            reached.push_back(e.target);
          }
        }
      }
      if (reached.size() != region[r].size()) changed = true;
      region[r] = std::move(reached);
      if (can_end && !nullable[r]) nullable[r] = changed = 1;
    }
  }
  std::vector<uint8_t> color(num, 0);  // 0 new, 1 on the DFS path, 2 done
  std::vector<std::pair<int32_t, size_t>> dfs;
  for (int32_t r0 = 0; r0 < num; ++r0) {
    if (color[r0]) continue;
    // Iterative DFS over the "calls before consuming" graph.
    std::vector<int32_t> path = {r0};
    std::vector<std::vector<int32_t>> pending;
    auto callees = [&](int32_t r) {
      std::vector<int32_t> out;
      for (const int32_t s : region[r]) {
        const StateInfo& st = g.states_[s];
        for (int32_t k = st.edge_begin; k < st.edge_end; ++k) {
          if (g.edges_[k].kind == EdgeKind::kCall) out.push_back(g.edges_[k].value);
        }
      }
      return out;
    };
    color[r0] = 1;
    pending.push_back(callees(r0));
    while (!path.empty()) {
      if (pending.back().empty()) {
        color[path.back()] = 2;
        path.pop_back();
        pending.pop_back();
        continue;
      }
      const int32_t next = pending.back().back();
      pending.back().pop_back();
      if (color[next] == 1) {
        throw CompileError("rule " + g.rules_[next].name +
                           " refers to itself before consuming any input (left recursion)");
      }
      if (color[next] == 0) {
        color[next] = 1;
        path.push_back(next);
        pending.push_back(callees(next));
      }
    }
  }
  return g;
}

std::vector<int32_t> Grammar::LiteralTokens() const {
  std::vector<int32_t> out;
  for (const Edge& e : edges_) {
    if (e.kind == EdgeKind::kToken) out.push_back(e.value);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string Grammar::LeafShapeKey(int32_t rule) const {
  const RuleInfo& info = rules_[rule];
  std::string key;
  auto put = [&key](int32_t v) { key.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  put(info.start - info.state_begin);
  // A counted rule's classes depend on its bounds (accepted[k] per remaining
  // count), which the states and edges do not show (count_cap follows from them).
  put(info.min_count);
  put(info.max_count);
  for (int32_t s = info.state_begin; s < info.state_end; ++s) {
    const StateInfo& st = states_[s];
    put(st.flags);
    put(st.edge_end - st.edge_begin);
    for (int32_t k = st.edge_begin; k < st.edge_end; ++k) {
      const Edge& e = edges_[k];
      put(static_cast<int32_t>(e.kind) | (e.lo << 8) | (e.hi << 16) | (e.flags << 24));
      put(e.kind == EdgeKind::kBytes ? 0 : e.value);
      put(e.target - info.state_begin);
    }
  }
  return key;
}

std::string Grammar::Describe() const {
  std::ostringstream out;
  for (size_t r = 0; r < rules_.size(); ++r) {
    const RuleInfo& info = rules_[r];
    out << "rule " << r << " " << info.name << (static_cast<int32_t>(r) == root_ ? " (root)" : "");
    if (info.max_count != kUnbounded || info.min_count != 0) {
      out << " count " << info.min_count << ".." << info.max_count;
    }
    out << "\n";
    for (int32_t s = info.state_begin; s < info.state_end; ++s) {
      const StateInfo& st = states_[s];
      out << "  s" << s << ((st.flags & kStateFinal) ? " final" : "")
          << ((st.flags & kStateFinalNeedMin) ? " final-if-min" : "") << ":";
      for (int32_t k = st.edge_begin; k < st.edge_end; ++k) {
        const Edge& e = edges_[k];
        out << " [";
        if (e.kind == EdgeKind::kBytes) {
          out << static_cast<int>(e.lo);
          if (e.hi != e.lo) out << "-" << static_cast<int>(e.hi);
        } else if (e.kind == EdgeKind::kToken) {
          out << "tok " << e.value;
        } else {
          out << "call " << rules_[e.value].name;
        }
        if (e.flags & kEdgeInc) out << " +1";
        if (e.flags & kEdgeNeedMin) out << " >=min";
        out << " -> s" << e.target << "]";
      }
      out << "\n";
    }
  }
  return out.str();
}

}  // namespace gemma::constrain
