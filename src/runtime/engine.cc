// Implements the public API (include/gemma/gemma.h) on top of the internal
// layers, and turns internal gemma::Error exceptions into Status results.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <thread>

#include "base/error.h"
#include "kernels/ops.h"
#include "model/batch.h"
#include "model/matformer.h"
#include "runtime/engine_impl.h"
#include "runtime/guard.h"
#include "runtime/limits.h"
#include "runtime/model_info.h"
#include "runtime/sampler.h"
#include "runtime/tokenizer_loader.h"

namespace gemma {

namespace {

constexpr int kDefaultContextCap = 8192;

ModelInfo Describe(const Model::Impl& m) {
  ModelInfo info;
  const ModelSpec& s = m.spec;
  info.path = m.source.path;
  info.format = m.source.format == ModelFormat::kGguf ? "gguf" : "safetensors";
  info.architecture = s.architecture;
  info.vocab_size = s.vocab_size;
  info.hidden_size = s.hidden_size;
  info.num_layers = s.num_layers();
  const LayerSpec& first = s.layers.front();
  info.num_attention_heads = first.num_attention_heads;
  info.num_key_value_heads = first.num_key_value_heads;
  info.head_dim = first.head_dim;
  info.intermediate_size = first.intermediate_size;
  info.context_length = s.context_length;
  info.active_context = m.context;
  info.query_scale = first.query_scale;
  info.attn_logit_softcap = first.attn_logit_softcap;
  info.final_logit_softcap = s.final_logit_softcap;
  for (int i = 0; i < s.num_layers(); ++i) {
    const LayerSpec& l = s.layers[i];
    const bool global = l.attention == AttentionType::kGlobal;
    info.layers.push_back({global ? "global" : "sliding",
                           l.sliding_window,
                           l.num_attention_heads,
                           l.num_key_value_heads,
                           l.head_dim,
                           l.intermediate_size,
                           l.kv_source_layer,
                           l.query_scale,
                           l.rope_theta,
                           l.rope_linear_factor,
                           l.rope_partial_factor,
                           l.qk_norm,
                           l.value_norm,
                           l.k_eq_v,
                           l.layer_scalar,
                           l.per_layer_input,
                           l.num_experts,
                           l.num_experts_per_token,
                           l.expert_intermediate_size,
                           l.altup ? s.altup_num_inputs : 0,
                           l.laurel_rank,
                           l.activation_sparsity,
                           l.activation_sparsity_stddevs});
    if (global) {
      info.global_layers.push_back(i);
      info.rope_theta_global = l.rope_theta;
      info.rope_linear_factor = l.rope_linear_factor;
    } else {
      info.sliding_window = l.sliding_window;
      info.rope_theta_local = l.rope_theta;
    }
  }
  info.weights_bytes = m.source.TotalTensorBytes();
  info.kv_cache_bytes = m.kv->arena_bytes();
  info.kv_cache_type = std::string(Name(m.kv_type));
  info.threads = m.pool->num_threads();
  info.simd = SimdTargetName();
  info.packed_bytes = m.packed_bytes;
  const std::vector<std::string>* order = m.source.gguf ? &m.source.gguf->tensor_order() : nullptr;
  auto add = [&](const TensorEntry& t) {
    info.tensors.push_back({t.name, std::string(Name(t.type)), t.shape, t.size_bytes});
  };
  if (order != nullptr) {
    for (const std::string& name : *order) add(*m.source.tensors.Find(name));
  } else {
    for (const auto& [name, t] : m.source.tensors.entries()) add(t);
  }
  return info;
}

// The KV cache type "auto" resolves to: f32 where every layer matrix is a
// 16- or 32-bit float (the user chose full-precision weights, and an f16
// cache alone changed the greedy continuation of a golden bf16 case), f16
// where they are quantized (weight rounding dominates there: f16, bf16 and
// f32 caches gave the same KL within noise on the golden quantized files, and
// f16 takes half the memory). docs/numerics.md has the measurements.
DType DefaultKvType(const ModelWeights& weights) {
  for (const LayerWeights& l : weights.layers) {
    for (const WeightMatrix* w :
         {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj}) {
      if (w->type != DType::kF32 && w->type != DType::kF16 && w->type != DType::kBF16) {
        return DType::kF16;
      }
    }
  }
  return DType::kF32;
}

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

Result<std::unique_ptr<Model>> Model::Open(const std::string& path, const ModelOptions& options) {
  try {
    const ResidentSet rss_at_open = ResidentSetParts();
    if (!options.simd.empty()) {
      LimitSimdTarget(options.simd);
    } else if (const char* simd = std::getenv("GEMMA_SIMD"); simd != nullptr && *simd != '\0') {
      LimitSimdTarget(simd);
    }
    auto m = std::make_unique<Impl>();
    m->source = OpenModelSource(path);
    m->spec = BuildModelSpec(m->source);
    m->weights = BindWeights(m->source, m->spec);
    // MatFormer slicing (Gemma 3n) narrows the bound weights: before packing.
    MatFormerPlan matformer;
    if (!options.matformer.empty()) {
      matformer = ParseMatFormerPlan(options.matformer, m->spec);
      ApplyMatFormer(matformer, m->spec, m->weights);
    }
    m->tokenizer = std::make_unique<Tokenizer>(LoadTokenizer(m->source, options.tokenizer_path));
    CheckTokenizerMatchesModel(*m->tokenizer, m->spec, path);
    // The model's eos, then the tokenizer's end-of-generation set (found by
    // piece: <end_of_turn>; Gemma 4's <turn|> and <|tool_response>).
    m->end_ids.push_back(m->spec.eos_id);
    for (const int32_t id : m->tokenizer->EndOfGenerationIds()) {
      if (std::find(m->end_ids.begin(), m->end_ids.end(), id) == m->end_ids.end()) {
        m->end_ids.push_back(id);
      }
    }
    if (options.context_length < 0) Fail("context length must be positive");
    if (options.batch_size <= 0 || options.batch_size > 8192) Fail("batch size must be 1..8192");
    m->batch_size = options.batch_size;
    m->kv_type = options.kv_cache_type == "auto" ? DefaultKvType(m->weights)
                                                 : ParseKvType(options.kv_cache_type);
    m->context = options.context_length > 0 ? options.context_length
                                            : std::min(m->spec.context_length, kDefaultContextCap);
    if (m->context > m->spec.context_length) {
      Fail(path, ": context length ", m->context, " exceeds the model's limit of ",
           m->spec.context_length);
    }
    const int threads = ChooseThreadCount(options.threads).threads;
    m->pool = std::make_unique<ThreadPool>(threads);
    m->exact = options.exact;
    if (!options.exact) m->packed_bytes = PackWeightsForKernels(m->source, m->weights, *m->pool);
    if (options.parallel < 1 || options.parallel > 1024) Fail("parallel sequences must be 1..1024");
    if (options.kv_size < 0) Fail("KV size must not be negative");
    KvMemory::Config kv;
    kv.type = m->kv_type;
    kv.max_sequences = options.parallel;
    kv.context_length = m->context;
    kv.max_batch = m->batch_size;
    kv.total_tokens = options.kv_size;
    kv.prefix_cache = options.prefix_cache;
    m->kv = std::make_unique<KvMemory>(KvShapes(m->spec), kv);
    m->executor = std::make_unique<Transformer>(m->spec, m->weights, m->batch_size, m->exact);
    m->fingerprint = ModelFingerprint(m->source);
    // A sliced model's sessions belong to it, not to the full model.
    const std::string matformer_text = DescribeMatFormerPlan(matformer);
    m->fingerprint ^= std::hash<std::string>{}(matformer_text)*0x9e3779b97f4a7c15ull;
    m->info = Describe(*m);
    m->info.matformer = matformer_text;
    DescribeLoad(*m, options, rss_at_open, m->info);
    m->turn_format = &SelectTurnFormat(*m->tokenizer, m->info.chat_template, m->source.path);
    m->info.chat_format = std::string(m->turn_format->name);
    return std::unique_ptr<Model>(new Model(std::move(m)));
  } catch (...) {
    return StatusFromCurrentException(path);
  }
}

const ModelInfo& Model::info() const { return impl_->info; }

std::vector<int32_t> Model::Tokenize(std::string_view text, bool add_bos,
                                     bool parse_special) const {
  std::vector<int32_t> ids;
  if (add_bos) ids.push_back(impl_->spec.bos_id);
  const std::vector<int32_t> body = impl_->tokenizer->Encode(text, parse_special);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

std::string Model::Detokenize(const std::vector<int32_t>& ids) const {
  return impl_->tokenizer->Decode(ids);
}

int32_t Model::tokenizer_bos() const { return impl_->spec.bos_id; }

int32_t Model::PieceToId(std::string_view piece) const {
  return impl_->tokenizer->PieceToId(piece);
}

std::vector<VocabularyEntry> Model::Vocabulary() const {
  const Tokenizer& t = *impl_->tokenizer;
  std::vector<VocabularyEntry> out(t.vocab_size());
  for (int32_t id = 0; id < t.vocab_size(); ++id) {
    VocabularyEntry& e = out[id];
    switch (t.Type(id)) {
      case TokenType::kByte:
        e.kind = VocabularyEntry::Kind::kByte;
        break;
      case TokenType::kNormal:
      case TokenType::kUserDefined:
        e.kind = VocabularyEntry::Kind::kText;
        break;
      default:
        e.kind = VocabularyEntry::Kind::kControl;
    }
    e.bytes = e.kind == VocabularyEntry::Kind::kControl ? t.IdToPiece(id) : t.TokenBytes(id);
    if (e.kind == VocabularyEntry::Kind::kByte && e.bytes.size() != 1) {
      e.kind = VocabularyEntry::Kind::kControl;
    }
  }
  return out;
}

const std::vector<int32_t>& Model::EndOfGenerationIds() const { return impl_->end_ids; }

bool Model::IsEndOfGeneration(int32_t id) const {
  return std::find(impl_->end_ids.begin(), impl_->end_ids.end(), id) != impl_->end_ids.end();
}

Session::Session(Model& model) : impl_(std::make_unique<Impl>(ModelInternals::Get(model))) {}
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;

void Model::Impl::Run(SequenceKv& seq, std::span<const int32_t> tokens, float* last, float* all,
                      const StageObserverFn* observer) {
  std::lock_guard lock(mutex);
  // The executor is shared by every session: the observer is this call's only.
  executor->set_stage_observer(observer);
  struct ClearObserver {
    Transformer& executor;
    ~ClearObserver() { executor.set_stage_observer(nullptr); }
  } clear_observer{*executor};
  const size_t V = spec.vocab_size;
  Batch batch;
  for (size_t begin = 0; begin < tokens.size(); begin += batch_size) {
    const size_t count = std::min<size_t>(batch_size, tokens.size() - begin);
    const std::span<const int32_t> chunk = tokens.subspan(begin, count);
    const bool last_chunk = begin + count == tokens.size();
    if (!kv->Reserve(seq, seq.size() + static_cast<int>(count))) {
      FailWith(StatusCode::kResourceExhausted, "the KV memory is full (",
               kv->pool_blocks(KvMemory::kGlobalPool) * kKvBlockTokens,
               " positions for all sequences): raise ModelOptions::kv_size / parallel "
               "(--kv-size, --parallel) or end another session");
    }
    batch.Clear();
    batch.Add(seq, chunk, last_chunk && last != nullptr, all != nullptr);
    float* out = all != nullptr ? all + begin * V : last;
    try {
      executor->Forward(batch, *kv, *pool, out);
    } catch (...) {
      kv->TruncateTo(seq, seq.size());  // give back what was reserved
      throw;
    }
    kv->Commit(seq, chunk);
  }
  if (all != nullptr && last != nullptr) {
    std::copy(all + (tokens.size() - 1) * V, all + tokens.size() * V, last);
  }
}

Status Session::Append(std::span<const int32_t> tokens, std::vector<float>* all_logits) {
  Impl& s = *impl_;
  if (tokens.empty()) return Status::Error("no tokens to append");
  const int vocab = s.model.spec.vocab_size;
  for (int32_t id : tokens) {
    if (id < 0 || id >= vocab) {
      return Status::Error("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                           std::to_string(vocab - 1) + ")");
    }
  }
  const size_t held = s.seq.tokens().size();
  if (held + tokens.size() > static_cast<size_t>(s.model.context)) {
    return Status(StatusCode::kOutOfRange, "context full: " + std::to_string(held) + " + " +
                                               std::to_string(tokens.size()) +
                                               " tokens exceed the context length " +
                                               std::to_string(s.model.context) + " (raise --ctx)");
  }
  const StageObserverFn* observer = s.stage_observer ? &s.stage_observer : nullptr;
  return Guarded([&] {
    if (all_logits != nullptr) {
      all_logits->resize(tokens.size() * static_cast<size_t>(vocab));
      s.model.Run(s.seq, tokens, s.logits.data(), all_logits->data(), observer);
      for (size_t row = 0; row < tokens.size(); ++row) {
        MaskPaddingRows(all_logits->data() + row * vocab);
      }
    } else {
      s.model.Run(s.seq, tokens, s.logits.data(), nullptr, observer);
    }
    MaskPaddingRows(s.logits.data());
    return Status();
  });
}

void Session::set_stage_observer(StageObserver observer) {
  if (!observer) {
    impl_->stage_observer = nullptr;
    return;
  }
  impl_->stage_observer = [observer = std::move(observer)](const StageTrace& t) {
    StageValues v;
    v.stage = t.stage;
    v.layer = t.layer;
    v.first_position = t.first_position;
    v.rows = t.rows;
    v.width = t.width;
    v.values = std::span<const float>(t.values, static_cast<size_t>(t.rows) * t.width);
    observer(v);
  };
}

// Embedding rows past the tokenizer's vocabulary (Gemma 3 multimodal
// checkpoints pad 262,144 tokens to 262,208 rows) are no real tokens: they
// must never be sampled.
void Session::MaskPaddingRows(float* logits) const {
  const int real = std::min(impl_->model.tokenizer->vocab_size(), impl_->model.spec.vocab_size);
  std::fill(logits + real, logits + impl_->model.spec.vocab_size, -INFINITY);
}

std::span<const float> Session::logits() const { return impl_->logits; }

int32_t Session::Sample(const SamplingParams& params) {
  Sampler sampler(params);
  sampler.Reseed(params.seed + impl_->seq.tokens().size());
  std::vector<float> logits = impl_->logits;
  return sampler.Sample(logits.data(), static_cast<int32_t>(logits.size()), impl_->seq.tokens());
}

void Session::Truncate(int n) {
  Impl& s = *impl_;
  n = std::clamp(n, 0, static_cast<int>(s.seq.tokens().size()));
  {
    std::lock_guard lock(s.model.mutex);
    if (s.model.kv->TruncateTo(s.seq, n)) return;
  }
  // A sliding layer's window has moved past keys that position n needs (and
  // they are no longer cached): build the prefix again rather than attend to
  // missing rows.
  const std::vector<int32_t> keep(s.seq.tokens().begin(), s.seq.tokens().begin() + n);
  {
    std::lock_guard lock(s.model.mutex);
    s.model.kv->Release(s.seq);
  }
  if (!keep.empty() && !Append(keep).ok()) {
    std::lock_guard lock(s.model.mutex);
    s.model.kv->Release(s.seq);  // cannot happen for tokens that ran before; stay consistent
  }
}

const std::vector<int32_t>& Session::tokens() const { return impl_->seq.tokens(); }
int Session::position() const { return impl_->seq.size(); }
int Session::capacity() const { return impl_->model.context; }

Status GenerateTokens(Model& model, Session& session, const GenerateOptions& options,
                      const std::function<bool(int32_t, std::string_view)>& on_token, bool* ended) {
  StreamingDecoder decoder(*ModelInternals::Get(model).tokenizer);
  *ended = false;
  const int limit = MaxNewTokens(options.max_tokens, session.capacity() - session.position());
  for (int i = 0; i < limit; ++i) {
    const int32_t id = session.Sample(options.sampling);
    if (model.IsEndOfGeneration(id)) {
      *ended = true;
      break;
    }
    if (!on_token(id, decoder.Push(id))) break;
    const Status status = session.Append(std::span<const int32_t>(&id, 1));
    if (!status.ok()) return status;
  }
  const std::string rest = decoder.Flush();
  if (!rest.empty()) on_token(-1, rest);
  return Status();
}

Result<std::string> GenerateLoop(Model& model, Session& session, const GenerateOptions& options,
                                 const std::function<bool(std::string_view)>& on_text,
                                 bool* ended) {
  std::string answer;
  const Status status = GenerateTokens(
      model, session, options,
      [&](int32_t, std::string_view piece) {
        answer += piece;
        return piece.empty() || !on_text || on_text(piece);
      },
      ended);
  if (!status.ok()) return status;
  return answer;
}

Result<std::string> Complete(Model& model, std::string_view prompt, const GenerateOptions& options,
                             const std::function<bool(std::string_view)>& on_text) {
  if (Status valid = ValidateSamplingParams(options.sampling); !valid.ok()) return valid;
  Session session(model);
  const std::vector<int32_t> ids = model.Tokenize(prompt, /*add_bos=*/true, /*parse_special=*/true);
  const Status status = session.Append(ids);
  if (!status.ok()) return status;
  bool ended = false;
  return GenerateLoop(model, session, options, on_text, &ended);
}

}  // namespace gemma
