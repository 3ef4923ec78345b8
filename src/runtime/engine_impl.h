// The state behind the public Model and Session handles, shared by the files
// that implement the API (engine.cc, session_file.cc).
#pragma once

#include <memory>
#include <vector>

#include "gemma/gemma.h"
#include "io/model_source.h"
#include "model/spec.h"
#include "model/transformer.h"
#include "model/weights.h"
#include "memory/kv_cache.h"
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
  int context = 0;
  int batch_size = 256;
  DType kv_type = DType::kBF16;
  bool exact = false;  // ModelOptions::exact
  size_t packed_bytes = 0;
  // Identifies the weights (shapes, types and sampled bytes of every tensor),
  // so a saved session is only loaded into the model that made it.
  uint64_t fingerprint = 0;
};

uint64_t ModelFingerprint(const ModelSource& source);

struct ModelInternals {
  static Model::Impl& Get(Model& model) { return *model.impl_; }
  static const Model::Impl& Get(const Model& model) { return *model.impl_; }
};

struct Session::Impl {
  explicit Impl(Model::Impl& m)
      : model(m),
        cache(KvShapes(m.spec), m.context, m.batch_size, m.kv_type),
        transformer(m.spec, m.weights, m.batch_size, m.exact),
        logits(m.spec.vocab_size) {}
  Model::Impl& model;
  KvCache cache;
  Transformer transformer;
  std::vector<float> logits;
  std::vector<int32_t> tokens;
};

// Samples and appends tokens until an end-of-generation id or max_tokens,
// streaming complete UTF-8 through on_text. `ended` tells whether an end id
// was produced (it is not appended to the context).
Result<std::string> GenerateLoop(Model& model, Session& session, const GenerateOptions& options,
                                 const std::function<bool(std::string_view)>& on_text, bool* ended);

}  // namespace gemma
