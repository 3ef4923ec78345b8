#include "model/builder_common.h"

#include <climits>
#include <cmath>
#include <optional>
#include <string>

#include "base/error.h"
#include "io/tensor_catalog.h"
#include "model/gemma_rows.h"

namespace gemma {
namespace {

// What any integer key may hold before the plausibility bounds below.
constexpr int64_t kMaxInteger = int64_t{1} << 30;

// Far above any Gemma (the largest has 62 layers, hidden 5376, ffn 21504),
// low enough that a corrupt header cannot make us allocate gigabytes before
// the tensors are checked against it.
constexpr int kMaxLayers = 1024;
constexpr int kMaxHidden = 65536;
constexpr int kMaxHeads = 1024;
constexpr int kMaxHeadDim = 1024;
constexpr int kMaxFfn = 1 << 20;
constexpr int kMaxContext = 1 << 24;

void CheckPlausible(const ModelConfig& c, const char* what, int64_t value, int64_t max) {
  if (value <= 0 || value > max) {
    Fail(c.origin(), ": implausible ", what, " ", value, " (at most ", max, " supported)");
  }
}

int RequiredInteger(const ModelConfig& c, const char* name) {
  const std::optional<int64_t> v = c.Integer(name, 1, kMaxInteger);
  if (!v) c.FailMissing(name);
  return static_cast<int>(*v);
}

// One value per layer; `fallback` (one per layer) when the file lacks the key.
std::vector<int> PerLayer(const ModelConfig& c, const char* name, int layers,
                          const std::vector<int>* fallback, const char* what, int max) {
  std::vector<int> out;
  if (const auto values = c.PerLayerIntegers(name, layers, 1, kMaxInteger)) {
    out.assign(values->begin(), values->end());
  } else if (fallback != nullptr) {
    out = *fallback;
  } else {
    c.FailMissing(name);
  }
  for (int v : out) CheckPlausible(c, what, v, max);
  return out;
}

// The factor of a linear RoPE scaling described under `prefix`
// ("rope_scaling", "rope_parameters.full_attention"): 1 when none.
float LinearFactor(const ModelConfig& c, const std::string& prefix) {
  std::string type = c.String(prefix + ".rope_type").value_or("");
  if (type.empty()) type = c.String(prefix + ".type").value_or("");
  if (type == "linear") return static_cast<float>(c.Number(prefix + ".factor").value_or(1.0));
  if (type.empty() || type == "default" || type == "none") return 1.0f;
  Fail(c.origin(), ": unsupported rope scaling type '", type, "' (", c.Where(prefix + ".rope_type"),
       ")");
}

}  // namespace

ModelSpec ReadDecoderSpec(const ModelConfig& c, int vocab_size) {
  ModelSpec spec;
  spec.vocab_size = vocab_size;
  const int layers = RequiredInteger(c, "num_hidden_layers");
  CheckPlausible(c, "layer count", layers, kMaxLayers);
  spec.hidden_size = RequiredInteger(c, "hidden_size");
  CheckPlausible(c, "hidden size", spec.hidden_size, kMaxHidden);
  const std::vector<int> heads =
      PerLayer(c, "num_attention_heads", layers, nullptr, "head count", kMaxHeads);
  const std::vector<int> kv_heads =
      PerLayer(c, "num_key_value_heads", layers, &heads, "key/value head count", kMaxHeads);
  std::vector<int> hidden_over_heads;
  for (int h : heads) hidden_over_heads.push_back(spec.hidden_size / h);
  const std::vector<int> head_dim =
      PerLayer(c, "head_dim", layers, &hidden_over_heads, "head dimension", kMaxHeadDim);
  const std::vector<int> ffn =
      PerLayer(c, "intermediate_size", layers, nullptr, "feed-forward size", kMaxFfn);
  spec.context_length =
      static_cast<int>(c.Integer("max_position_embeddings", 1, kMaxInteger).value_or(8192));
  CheckPlausible(c, "context length", spec.context_length, kMaxContext);
  spec.rms_norm_eps = static_cast<float>(c.Number("rms_norm_eps").value_or(1e-6));
  // The references scale embeddings by sqrt(hidden) computed in f32 (golden
  // README: "not rounded to bf16 as in Hugging Face's bf16 path").
  spec.embedding_scale = std::sqrt(static_cast<float>(spec.hidden_size));
  spec.final_logit_softcap = static_cast<float>(c.Number("final_logit_softcapping").value_or(0));
  spec.layers.resize(layers);
  for (int i = 0; i < layers; ++i) {
    LayerSpec& l = spec.layers[i];
    l.num_attention_heads = heads[i];
    l.num_key_value_heads = kv_heads[i];
    l.head_dim = head_dim[i];
    l.intermediate_size = ffn[i];
  }
  // Token ids are checked against int32 before converting (the vocabulary
  // check comes with the tokenizer). config.json's eos_token_id may be a
  // list (Gemma 3: [1, 106]); its first entry is the end-of-sequence id.
  constexpr int64_t kMaxId = INT32_MAX;
  spec.bos_id = static_cast<int32_t>(c.Integer("bos_token_id", 0, kMaxId).value_or(2));
  if (const auto eos = c.IntegerList("eos_token_id", 0, kMaxId)) {
    if (eos->empty()) Fail(c.origin(), ": ", c.Where("eos_token_id"), " is an empty list");
    spec.eos_id = static_cast<int32_t>(eos->front());
  } else {
    spec.eos_id = 1;
  }
  return spec;
}

RopeBases ReadRopeBases(const ModelConfig& c) {
  RopeBases r;
  r.global_theta = static_cast<float>(c.Number("rope_theta").value_or(10000.0));
  r.local_theta = static_cast<float>(c.Number("rope_local_base_freq").value_or(10000.0));
  r.global_linear_factor = LinearFactor(c, "rope_scaling");
  // Newer transformers write per-layer-type RoPE parameters instead.
  if (c.Has("rope_parameters.full_attention")) {
    r.global_theta = static_cast<float>(
        c.Number("rope_parameters.full_attention.rope_theta").value_or(r.global_theta));
    r.global_linear_factor = LinearFactor(c, "rope_parameters.full_attention");
  }
  if (c.Has("rope_parameters.sliding_attention")) {
    r.local_theta = static_cast<float>(
        c.Number("rope_parameters.sliding_attention.rope_theta").value_or(r.local_theta));
  }
  return r;
}

int ReadSlidingWindow(const ModelConfig& c) {
  const int64_t window =
      c.Integer("sliding_window", 0, kMaxInteger).value_or(c.is_gguf() ? 0 : 4096);
  if (window > kMaxContext) {
    Fail(c.origin(), ": implausible sliding window ", window, " (at most ", kMaxContext,
         " supported)");
  }
  return static_cast<int>(window);
}

std::vector<bool> ReadSlidingLayers(const ModelConfig& c, int layers, bool read_period,
                                    bool (*fallback)(int layer)) {
  std::vector<bool> sliding;
  if (const auto types = c.PerLayerStrings("layer_types", layers)) {
    for (const std::string& type : *types) sliding.push_back(type == "sliding_attention");
  } else if (read_period && c.Has("sliding_window_pattern")) {
    // Every period-th layer is global: layer i iff (i + 1) % period == 0.
    const int64_t period = *c.Integer("sliding_window_pattern", 1, kMaxInteger);
    for (int i = 0; i < layers; ++i) sliding.push_back((i + 1) % period != 0);
  } else {
    for (int i = 0; i < layers; ++i) sliding.push_back(fallback(i));
  }
  return sliding;
}

void SetAttention(LayerSpec& layer, bool sliding, int window) {
  if (window <= 0) sliding = false;
  layer.attention = sliding ? AttentionType::kSliding : AttentionType::kGlobal;
  layer.sliding_window = sliding ? window : 0;
}

float ReadQueryPreAttnScalar(const ModelConfig& c, const ModelSpec& spec, int layer,
                             int depth_of_exception) {
  const LayerSpec& l = spec.layers[layer];
  float scalar = static_cast<float>(c.Number("query_pre_attn_scalar").value_or(0));
  if (c.is_gguf() && spec.num_layers() == depth_of_exception) {
    scalar = static_cast<float>(spec.hidden_size) / static_cast<float>(l.num_attention_heads);
  }
  if (scalar <= 0) scalar = static_cast<float>(l.head_dim);
  return scalar;
}

// The last num_kv_shared_layers layers read the K/V of the last earlier
// layer of their attention type that has its own (HF's rule). Returns the
// first shared layer (the layer count when none).
int SetKvSharing(const ModelConfig& config, ModelSpec& spec) {
  const int layers = spec.num_layers();
  const int shared =
      static_cast<int>(config.Integer("num_kv_shared_layers", 0, layers - 1).value_or(0));
  const int first_shared = layers - shared;
  for (int i = first_shared; i < layers; ++i) {
    LayerSpec& l = spec.layers[i];
    for (int j = first_shared - 1; j >= 0 && l.kv_source_layer < 0; --j) {
      if (spec.layers[j].attention == l.attention) l.kv_source_layer = j;
    }
    if (l.kv_source_layer < 0) {
      Fail(config.origin(), ": layer ", i, " shares K/V (", config.Where("num_kv_shared_layers"),
           ") but no earlier layer of its attention type has its own");
    }
    // The rows it reads are the source's (a GGUF shared layer lacks attn_v,
    // which is not K = V here).
    l.k_eq_v = false;
    l.num_key_value_heads = spec.layers[l.kv_source_layer].num_key_value_heads;
  }
  return first_shared;
}

// Per-layer embeddings: their width (0: none) and the token table's rows
// (the table's own, else vocab_size_per_layer_input, else the vocabulary).
void SetPerLayerInputs(const ModelConfig& config, const TensorNamer& tensors, ModelSpec& spec) {
  spec.per_layer_input_size = static_cast<int>(
      config.Integer("hidden_size_per_layer_input", 0, int64_t{1} << 16).value_or(0));
  if (spec.per_layer_input_size == 0) return;
  spec.per_layer_vocab_size = static_cast<int>(
      config.Integer("vocab_size_per_layer_input", 1, int64_t{1} << 30).value_or(spec.vocab_size));
  if (const TensorEntry* t = tensors.Find(rows::kPerLayerEmbedding, -1);
      t != nullptr && t->shape.size() == 2 && t->shape[0] > 0 && t->shape[0] <= (1 << 30)) {
    spec.per_layer_vocab_size = static_cast<int>(t->shape[0]);
  }
  spec.per_layer_input_slots = spec.num_layers();
  for (int i = 0; i < spec.num_layers(); ++i) {
    spec.layers[i].per_layer_input = true;
    spec.layers[i].per_layer_input_slot = i;
  }
}

}  // namespace gemma
