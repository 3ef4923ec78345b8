// The state behind the public Model and Session handles, shared by the files
// that implement the API (engine.cc, session_file.cc).
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "gemma/gemma.h"
#include "io/model_source.h"
#include "memory/kv_memory.h"
#include "model/spec.h"
#include "model/transformer.h"
#include "model/weights.h"
#include "runtime/turn_format.h"
#include "threading/thread_pool.h"
#include "tokenizer/tokenizer.h"

namespace gemma {

struct Model::Impl {
  ModelSource source;
  ModelSpec spec;
  ModelWeights weights;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ThreadPool> pool;
  ModelInfo info;
  std::vector<int32_t> end_ids;
  const TurnFormat* turn_format = &kGemmaTurns;  // what Chat writes unless told otherwise
  int context = 0;
  int batch_size = 256;
  DType kv_type = DType::kBF16;
  bool exact = false;  // ModelOptions::exact
  size_t packed_bytes = 0;
  // Identifies the weights (shapes, types and sampled bytes of every tensor),
  // so a saved session is only loaded into the model that made it.
  uint64_t fingerprint = 0;

  // The keys and values of every sequence, and the one forward pass (with its
  // scratch) that all of them share. `mutex` serializes their use: sessions
  // on different threads take turns.
  std::unique_ptr<KvMemory> kv;
  std::unique_ptr<Transformer> executor;
  std::mutex mutex;

  // Runs `tokens` after the positions `seq` holds, in steps of batch_size
  // rows; logits of the last token go to `last` (if not null) and of every
  // token to `all` ([n, vocab], if not null); `observer` (if not null) sees
  // every stage of every step. Holds `mutex`. Throws gemma::Error
  // (kResourceExhausted when the KV memory is full).
  void Run(SequenceKv& seq, std::span<const int32_t> tokens, float* last, float* all,
           const StageObserverFn* observer = nullptr);
};

uint64_t ModelFingerprint(const ModelSource& source);

struct ModelInternals {
  static Model::Impl& Get(Model& model) { return *model.impl_; }
  static const Model::Impl& Get(const Model& model) { return *model.impl_; }
};

struct Session::Impl {
  explicit Impl(Model::Impl& m) : model(m), logits(m.spec.vocab_size) {}
  ~Impl() {
    std::lock_guard lock(model.mutex);
    model.kv->Release(seq);
  }
  Model::Impl& model;
  SequenceKv seq;  // its tokens are the context
  std::vector<float> logits;
  StageObserverFn stage_observer;  // set_stage_observer's, adapted; empty: none
};

// Samples and appends tokens until an end-of-generation id or max_tokens,
// streaming complete UTF-8 through on_text. `ended` tells whether an end id
// was produced (it is not appended to the context).
Result<std::string> GenerateLoop(Model& model, Session& session, const GenerateOptions& options,
                                 const std::function<bool(std::string_view)>& on_text, bool* ended);
// The same loop handing over every token: its id and its text (empty while
// a UTF-8 sequence is incomplete; id -1 for the text flushed at the end).
// Returning false stops before the token is appended.
Status GenerateTokens(Model& model, Session& session, const GenerateOptions& options,
                      const std::function<bool(int32_t, std::string_view)>& on_token, bool* ended);

}  // namespace gemma
