// The grammar IR: a recursive transition network. A grammar is a set of
// rules; each rule is a deterministic automaton whose edges consume a byte
// range, consume one token id (a control token such as <escape>, matched as
// an id and never as bytes), or call another rule (push a return state, run
// the callee to one of its final states, pop). JSON schemas, regular
// expressions and tool-call syntaxes all compile into it through
// GrammarBuilder, which turns regular expressions over those three kinds of
// symbols into the automata (Thompson construction, then subset construction).
//
// Bounded repetition that would be large unrolled (string lengths, array
// sizes) uses a counted rule: the rule's frame carries a counter; edges flagged
// kInc commit to one more unit (allowed while count < max: the first symbol of
// the first unit, then of each separator), edges and final states flagged
// kNeedMin require count >= min (the first symbol of the closing suffix).
// Every state a count check lets through can still be completed.
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace gemma::constrain {

// Thrown by the builder and the compilers for an invalid or unsupported
// grammar or schema; the public Compile* functions turn it into an error
// message.
class CompileError : public std::runtime_error {
 public:
  explicit CompileError(const std::string& message) : std::runtime_error(message) {}
};

enum class EdgeKind : uint8_t { kBytes, kToken, kCall };

inline constexpr uint8_t kEdgeInc = 1;      // starts a counted unit: count < max, then count + 1
inline constexpr uint8_t kEdgeNeedMin = 2;  // requires count >= min

struct Edge {
  EdgeKind kind;
  uint8_t lo, hi;  // kBytes: the byte range [lo, hi]
  uint8_t flags;   // kEdgeInc | kEdgeNeedMin
  int32_t value;   // kToken: the token id; kCall: the callee rule
  int32_t target;  // global state id (same rule); for kCall the return state
};

inline constexpr uint8_t kStateFinal = 1;         // the rule may end here
inline constexpr uint8_t kStateFinalNeedMin = 2;  // may end here when count >= min
inline constexpr uint8_t kStateConsumes = 4;      // has byte or token edges
inline constexpr uint8_t kStateTail = 8;  // final, no edges: returning here = returning further
// Consumes, calls nothing, never final: its closure is itself.
inline constexpr uint8_t kStateSimple = 16;

struct StateInfo {
  int32_t rule;
  int32_t edge_begin, edge_end;  // edges sorted: bytes by lo, then tokens, then calls
  uint8_t flags;
};

inline constexpr int32_t kUnbounded = std::numeric_limits<int32_t>::max();

struct RuleInfo {
  std::string name;
  int32_t start;                   // global state id
  int32_t state_begin, state_end;  // the rule's global state ids
  int32_t min_count = 0, max_count = kUnbounded;
  // Counts past this change nothing (the maximum, or the minimum when there is
  // no maximum): they are capped so that equal stacks stay equal.
  int32_t count_cap = 0;
  bool leaf = true;  // calls no rule: its token classes depend on nothing else
};

class Grammar {
 public:
  const std::vector<RuleInfo>& rules() const { return rules_; }
  const std::vector<StateInfo>& states() const { return states_; }
  const std::vector<Edge>& edges() const { return edges_; }
  int32_t root() const { return root_; }
  const RuleInfo& rule_of(int32_t state) const { return rules_[states_[state].rule]; }
  // Token ids the grammar names as literals (to check them against a vocabulary).
  std::vector<int32_t> LiteralTokens() const;
  // A canonical text of one leaf rule's automaton with rule-relative state ids
  // and its counter bounds, independent of its name: equal keys classify
  // tokens alike, so their token classes can be shared across grammars. (The
  // bounds are part of it: a counted rule's classes hold one accepted set per
  // remaining count.)
  std::string LeafShapeKey(int32_t rule) const;
  // Human-readable dump for debugging and tests.
  std::string Describe() const;

 private:
  friend class GrammarBuilder;
  std::vector<RuleInfo> rules_;
  std::vector<StateInfo> states_;
  std::vector<Edge> edges_;
  int32_t root_ = 0;
};

struct BuildLimits {
  int64_t max_states = 1 << 20;           // all rules together, after determinization
  int64_t max_expr_nodes = 4 << 20;       // expression nodes (unrolled repetitions count)
  int64_t max_rule_dfa_states = 1 << 17;  // per rule, guards the subset construction
  // Per rule, the NFA states of all its DFA states together: what the subset
  // construction costs in time and memory. A pattern like "a.{20}" blows up
  // (2^20 subsets of ~20 positions each) long before the state limit: 131,072
  // states of ~200 positions took 4 s; this stops such a rule in ~0.3 s. A
  // 10,000-value enum needs 320,000.
  int64_t max_subset_members = 1 << 21;
};

// Builds a Grammar from regular expressions over bytes, token ids and rule
// calls. Expressions are handles into the builder; rules may be referenced
// (Call) before their body is set, which is how recursion is written.
class GrammarBuilder {
 public:
  using Expr = int32_t;
  using Rule = int32_t;

  explicit GrammarBuilder(BuildLimits limits = {});

  Expr Empty();    // matches the empty string
  Expr Nothing();  // matches nothing
  Expr Bytes(uint8_t lo, uint8_t hi);
  Expr Byte(uint8_t b) { return Bytes(b, b); }
  Expr Literal(std::string_view bytes);
  Expr Token(int32_t id);
  Expr Call(Rule rule);
  Expr Seq(std::vector<Expr> parts);
  Expr Alt(std::vector<Expr> options);
  Expr Star(Expr e);
  Expr Plus(Expr e);
  Expr Optional(Expr e);
  // e{min,max} unrolled (max may be kUnbounded: e{min} e*). For large bounds
  // on a rule body prefer a counted rule.
  Expr Repeat(Expr e, int32_t min, int32_t max);
  // A small automaton whose transitions are expressions: node 0 is the start,
  // node num_nodes - 1 the end. Each label is instantiated once per edge, so
  // structures like "optional properties with commas" stay linear in size.
  struct GraphEdge {
    int32_t from, to;
    Expr label;
  };
  Expr Graph(int32_t num_nodes, std::vector<GraphEdge> edges);

  Rule AddRule(std::string name);
  const std::string& RuleName(Rule rule) const { return rule_defs_[rule].name; }
  int32_t num_rules() const { return static_cast<int32_t>(rule_defs_.size()); }
  bool HasBody(Rule rule) const { return rule_defs_[rule].defined; }
  void SetBody(Rule rule, Expr body);

  // prefix (unit (separator unit){min-1,max-1} suffix | empty_suffix), with
  // a counter on units; empty_suffix only when min == 0. The unit must not
  // match the empty string; suffix and empty_suffix must begin with a byte or a
  // token (their first symbol carries the count >= min check).
  struct CountedLoop {
    Expr prefix, unit, separator, suffix, empty_suffix;
    int32_t min = 0, max = kUnbounded;
  };
  void SetCountedBody(Rule rule, const CountedLoop& loop);

  // Determinizes every rule, removes states that cannot reach an end, checks
  // that the root can match something and that no rule can call itself before
  // consuming input. Throws CompileError.
  Grammar Build(Rule root);

  int64_t num_expr_nodes() const { return static_cast<int64_t>(exprs_.size()); }

 private:
  enum class Op : uint8_t { kEmpty, kNothing, kBytes, kToken, kCall, kSeq, kAlt, kRepeat, kGraph };
  struct Node {
    Op op;
    uint8_t lo = 0, hi = 0;
    int32_t value = 0;                       // token, rule, or the repeat minimum
    int32_t value2 = 0;                      // the repeat maximum
    int32_t child_begin = 0, child_end = 0;  // into children_ (kGraph: into graph_edges_)
  };
  struct RuleDef {
    std::string name;
    bool defined = false;
    bool counted = false;
    Expr body = 0;
    CountedLoop loop;
  };
  Expr Add(Node node);
  friend class RuleCompiler;

  BuildLimits limits_;
  std::vector<Node> exprs_;
  std::vector<Expr> children_;
  std::vector<GraphEdge> graph_edges_;
  std::vector<RuleDef> rule_defs_;
  Expr empty_, nothing_;
};

}  // namespace gemma::constrain
