// The per-request side of constrained decoding.
//
//   auto vocab = VocabIndex::Build(...);                  // once per model
//   auto grammar = CompileJsonSchemaText(schema_text, {}, *vocab);   // json_schema.h
//   if (!grammar.ok()) return Http400(grammar.error);
//   Matcher m(grammar.compiled);                          // once per request
//   each step: if (!m.Allows(sampled)) { m.FillMask(mask); ...resample... }
//              m.Accept(token);  if (m.MustEnd()) ...
//
// CompiledGrammar is immutable and thread-safe: one may serve many requests
// at once. Its token classes are computed lazily on first use, under a lock.
// A Matcher belongs to one request (one thread at a time) and is copyable
// (n > 1 choices, lookahead): copies evolve independently.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "server/constrain/grammar.h"
#include "server/constrain/stack_machine.h"
#include "server/constrain/token_classes.h"
#include "server/constrain/vocab_index.h"

namespace gemma::constrain {

class CompiledGrammar {
 public:
  // Binds a grammar to a vocabulary. extra_end_tokens are end-of-generation
  // ids for this grammar beyond the vocabulary's (e.g. FunctionGemma's
  // <start_function_response>). Throws CompileError when a token literal or
  // end token is outside the vocabulary.
  static std::shared_ptr<const CompiledGrammar> Create(Grammar grammar,
                                                       std::shared_ptr<const VocabIndex> vocab,
                                                       std::vector<int32_t> extra_end_tokens = {});

  const Grammar& grammar() const { return grammar_; }
  const VocabIndex& vocab() const { return *vocab_; }
  const std::vector<int32_t>& end_tokens() const { return end_tokens_; }
  bool IsEndToken(int32_t id) const;

  // The token class of a consuming state, computed on first use.
  const StateClass& ClassOf(int32_t state) const;
  // Computes every class now (to keep the first requests fast).
  void PrecomputeClasses() const;
  // Classes computed so far and the trie nodes their walks visited.
  int64_t num_classes_computed() const { return computed_.load(); }

 private:
  CompiledGrammar() = default;

  Grammar grammar_;
  std::shared_ptr<const VocabIndex> vocab_;
  std::vector<int32_t> end_tokens_;  // sorted
  mutable std::mutex mu_;
  mutable std::unique_ptr<std::atomic<const StateClass*>[]> classes_;
  mutable std::vector<std::unique_ptr<StateClass>> owned_;
  std::vector<std::shared_ptr<ShapeClasses>> shapes_;  // per rule; null unless shared
  mutable std::atomic<int64_t> computed_{0};
};

class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const CompiledGrammar> grammar);

  // Whether `token` may come next (a single token is cheap to check).
  bool Allows(int32_t token);
  // Advances by `token`; returns false (and changes nothing) when not allowed.
  // After an end-of-generation token the matcher is finished.
  bool Accept(int32_t token);
  // Bit t of mask (word t / 64, bit t % 64) = token t allowed. mask must hold
  // at least (vocab size + 63) / 64 words.
  void FillMask(std::span<uint64_t> mask);
  // Sets logits of disallowed tokens to -infinity; entries past the
  // vocabulary (padded output rows) too.
  void MaskLogits(std::span<float> logits);

  // The output so far is complete: an end-of-generation token is allowed.
  bool CanEnd() const { return !finished_ && state_.can_end; }
  // Complete and nothing else may follow: the only allowed tokens end it.
  bool MustEnd() const { return !finished_ && state_.can_end && state_.tops.empty(); }
  // An end-of-generation token has been accepted.
  bool finished() const { return finished_; }
  size_t num_stacks() const { return state_.tops.size(); }
  const CompiledGrammar& compiled() const { return *grammar_; }

  // Statistics of the last FillMask: trie nodes walked at run time.
  int64_t last_mask_nodes_walked() const { return walker_.nodes_walked; }

 private:
  bool Simulate(int32_t token, bool commit);
  void MaybeCompact();

  std::shared_ptr<const CompiledGrammar> grammar_;
  StackMachine machine_;
  StateSet state_;
  bool finished_ = false;
  StateSet scratch_a_, scratch_b_;
  SubtreeWalker walker_;
  std::vector<uint64_t> mask_buffer_;
  std::vector<StackTop> seeds_;
};

}  // namespace gemma::constrain
