#include "model/spec.h"

#include <cmath>
#include <optional>

#include "base/error.h"
#include "io/json_fields.h"
#include "io/model_source.h"

namespace gemma {
namespace {

// Gemma generations this engine runs, and how each arranges its layers.
enum class Generation { kGemma1, kGemma2, kGemma3 };

std::optional<Generation> GenerationFromGgufArch(const std::string& arch) {
  if (arch == "gemma") return Generation::kGemma1;
  if (arch == "gemma2") return Generation::kGemma2;
  if (arch == "gemma3") return Generation::kGemma3;
  return std::nullopt;
}

const char* GgufArchName(Generation g) {
  switch (g) {
    case Generation::kGemma1:
      return "gemma";
    case Generation::kGemma2:
      return "gemma2";
    case Generation::kGemma3:
      return "gemma3";
  }
  return "";
}

// Hyper-parameters common to both sources, before per-layer expansion.
struct Hyper {
  Generation generation = Generation::kGemma1;
  int vocab_size = 0, hidden = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0, ffn = 0;
  int context = 8192;
  float eps = 1e-6f;
  int sliding_window = 0;
  float attn_softcap = 0, final_softcap = 0;
  float rope_global = 10000.0f, rope_local = 10000.0f, rope_global_factor = 1.0f;
  float query_pre_attn_scalar = 0;  // 0: derive
  std::vector<bool> sliding;        // explicit per-layer pattern if the source has one
};

// Far above any Gemma (the largest has 62 layers, hidden 5376, ffn 21504),
// low enough that a corrupt header cannot make us allocate gigabytes before
// the tensors are checked against it.
void CheckRanges(const Hyper& h, const std::string& origin) {
  auto check = [&](const char* what, int64_t value, int64_t max) {
    if (value <= 0 || value > max) {
      Fail(origin, ": implausible ", what, " ", value, " (at most ", max, " supported)");
    }
  };
  check("layer count", h.layers, 1024);
  check("hidden size", h.hidden, 65536);
  check("head count", h.heads, 1024);
  check("key/value head count", h.kv_heads, 1024);
  check("head dimension", h.head_dim, 1024);
  check("feed-forward size", h.ffn, 1 << 20);
  check("context length", h.context, 1 << 24);
  if (h.sliding_window < 0 || h.sliding_window > (1 << 24)) {
    Fail(origin, ": implausible sliding window ", h.sliding_window);
  }
}

ModelSpec Expand(const Hyper& h) {
  ModelSpec spec;
  spec.architecture = GgufArchName(h.generation);
  spec.vocab_size = h.vocab_size;
  spec.hidden_size = h.hidden;
  spec.context_length = h.context;
  spec.rms_norm_eps = h.eps;
  // The references scale embeddings by sqrt(hidden) computed in f32 (golden
  // README: "not rounded to bf16 as in Hugging Face's bf16 path").
  spec.embedding_scale = std::sqrt(static_cast<float>(h.hidden));
  spec.final_logit_softcap = h.final_softcap;
  float scalar = h.query_pre_attn_scalar;
  if (scalar <= 0) scalar = static_cast<float>(h.head_dim);
  for (int i = 0; i < h.layers; ++i) {
    LayerSpec layer;
    layer.num_attention_heads = h.heads;
    layer.num_key_value_heads = h.kv_heads;
    layer.head_dim = h.head_dim;
    layer.intermediate_size = h.ffn;
    layer.query_scale = 1.0f / std::sqrt(scalar);
    bool sliding = false;
    switch (h.generation) {
      case Generation::kGemma1:
        layer.query_scale = 1.0f / std::sqrt(static_cast<float>(h.head_dim));
        break;
      case Generation::kGemma2:
        sliding = i % 2 == 0;  // even layers local (GP [LOCAL_SLIDING, GLOBAL] * L/2)
        layer.sandwich_norms = true;
        layer.attn_logit_softcap = h.attn_softcap;
        break;
      case Generation::kGemma3:
        sliding = (i + 1) % 6 != 0;  // layer i global iff (i + 1) % 6 == 0
        layer.sandwich_norms = true;
        layer.qk_norm = true;
        break;
    }
    if (!h.sliding.empty()) sliding = h.sliding[i];
    if (h.sliding_window <= 0) sliding = false;
    layer.attention = sliding ? AttentionType::kSliding : AttentionType::kGlobal;
    layer.sliding_window = sliding ? h.sliding_window : 0;
    if (h.generation == Generation::kGemma3) {
      layer.rope_theta = sliding ? h.rope_local : h.rope_global;
      layer.rope_linear_factor = sliding ? 1.0f : h.rope_global_factor;
    } else {
      layer.rope_theta = h.rope_global;
    }
    spec.layers.push_back(layer);
  }
  return spec;
}

int PositiveInt(std::optional<int64_t> value, const std::string& origin, const std::string& key) {
  if (!value) Fail(origin, ": missing metadata key '", key, "'");
  if (*value <= 0 || *value > (int64_t{1} << 30)) {
    Fail(origin, ": metadata key '", key, "' has invalid value ", *value);
  }
  return static_cast<int>(*value);
}

int VocabFromEmbedding(const ModelSource& source, const std::string& name) {
  const TensorEntry* embedding = source.tensors.Find(name);
  if (embedding == nullptr) Fail(source.path, ": missing tensor '", name, "'");
  if (embedding->shape.size() != 2) {
    Fail(source.path, ": tensor '", name, "' should be 2-D but has shape ",
         embedding->ShapeString());
  }
  return static_cast<int>(embedding->shape[0]);
}

}  // namespace

void ModelSpec::Validate(const std::string& origin) const {
  auto bad = [&](const std::string& what) {
    Fail(origin, ": invalid model configuration: ", what);
  };
  if (vocab_size <= 0) bad("vocab_size must be positive");
  if (hidden_size <= 0) bad("hidden_size must be positive");
  if (layers.empty()) bad("no layers");
  if (!(rms_norm_eps > 0)) bad("rms_norm_eps must be positive");
  if (context_length <= 0) bad("context length must be positive");
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& l = layers[i];
    const std::string at = "layer " + std::to_string(i) + ": ";
    if (l.num_attention_heads <= 0 || l.num_key_value_heads <= 0)
      bad(at + "head counts must be positive");
    if (l.num_attention_heads % l.num_key_value_heads != 0) {
      bad(at + "query heads must be a multiple of key/value heads");
    }
    if (l.head_dim <= 0 || l.head_dim % 2 != 0 || l.head_dim > 1024)
      bad(at + "head_dim must be even");
    if (l.intermediate_size <= 0) bad(at + "intermediate_size must be positive");
    if (!(l.rope_theta > 1) || !(l.rope_linear_factor > 0)) bad(at + "invalid RoPE parameters");
    if (l.attention == AttentionType::kSliding && l.sliding_window <= 0) {
      bad(at + "sliding layer without a window");
    }
  }
}

ModelSpec SpecFromGguf(const ModelSource& source) {
  const GgufFile& f = *source.gguf;
  const std::string& origin = f.path();
  const std::optional<std::string> arch = f.GetString("general.architecture");
  if (!arch) Fail(origin, ": missing metadata key 'general.architecture'");
  const std::optional<Generation> generation = GenerationFromGgufArch(*arch);
  if (!generation) {
    Fail(origin, ": unknown or unsupported architecture '", *arch,
         "' (this engine runs gemma, gemma2, gemma3)");
  }
  const std::string p = *arch + ".";
  Hyper h;
  h.generation = *generation;
  h.hidden = PositiveInt(f.GetInt(p + "embedding_length"), origin, p + "embedding_length");
  h.layers = PositiveInt(f.GetInt(p + "block_count"), origin, p + "block_count");
  h.heads = PositiveInt(f.GetInt(p + "attention.head_count"), origin, p + "attention.head_count");
  h.kv_heads = h.heads;
  if (const GgufValue* kv = f.Find(p + "attention.head_count_kv")) {
    if (kv->type == GgufType::kArray)
      Fail(origin, ": per-layer head_count_kv is not supported yet");
    h.kv_heads = PositiveInt(kv->integer, origin, p + "attention.head_count_kv");
  }
  h.head_dim = h.hidden / h.heads;
  if (f.Find(p + "attention.key_length")) {
    h.head_dim =
        PositiveInt(f.GetInt(p + "attention.key_length"), origin, p + "attention.key_length");
  }
  if (const GgufValue* ffn = f.Find(p + "feed_forward_length");
      ffn && ffn->type == GgufType::kArray) {
    Fail(origin, ": per-layer feed_forward_length is not supported yet");
  }
  h.ffn = PositiveInt(f.GetInt(p + "feed_forward_length"), origin, p + "feed_forward_length");
  if (f.Find(p + "context_length")) {
    h.context = PositiveInt(f.GetInt(p + "context_length"), origin, p + "context_length");
  }
  h.eps = static_cast<float>(f.GetFloat(p + "attention.layer_norm_rms_epsilon").value_or(1e-6));
  if (*generation != Generation::kGemma1) {
    h.sliding_window = static_cast<int>(f.GetInt(p + "attention.sliding_window").value_or(0));
  }
  h.attn_softcap = static_cast<float>(f.GetFloat(p + "attn_logit_softcapping").value_or(0));
  h.final_softcap = static_cast<float>(f.GetFloat(p + "final_logit_softcapping").value_or(0));
  h.rope_global = static_cast<float>(f.GetFloat(p + "rope.freq_base").value_or(10000.0));
  // llama.cpp keeps Gemma 3's local base as a runtime constant; newer writers
  // may store it.
  h.rope_local = static_cast<float>(f.GetFloat(p + "rope.freq_base_swa").value_or(10000.0));
  if (const auto type = f.GetString(p + "rope.scaling.type"); type && *type == "linear") {
    h.rope_global_factor = static_cast<float>(f.GetFloat(p + "rope.scaling.factor").value_or(1.0));
  }
  // GGUF stores no query scale; llama.cpp derives it from the depth (Gemma 2
  // 27B has 46 layers, Gemma 3 27B 62): 1/sqrt(hidden/heads) there, else
  // 1/sqrt(head_dim). See the golden README's quirks.
  if ((*generation == Generation::kGemma2 && h.layers == 46) ||
      (*generation == Generation::kGemma3 && h.layers == 62)) {
    h.query_pre_attn_scalar = static_cast<float>(h.hidden) / static_cast<float>(h.heads);
  }
  h.vocab_size = VocabFromEmbedding(source, "token_embd.weight");
  CheckRanges(h, origin);
  ModelSpec spec = Expand(h);
  spec.bos_id = static_cast<int32_t>(f.GetInt("tokenizer.ggml.bos_token_id").value_or(2));
  spec.eos_id = static_cast<int32_t>(f.GetInt("tokenizer.ggml.eos_token_id").value_or(1));
  spec.Validate(origin);
  return spec;
}

ModelSpec SpecFromHfConfig(const ModelSource& source) {
  const std::string origin = source.path + "/config.json";
  using Null = JsonObject::Null;
  JsonObject c(source.hf_config, origin);
  std::string model_type = c.String("model_type").value_or("");
  if (model_type == "gemma3") {  // multimodal checkpoint: the text decoder's config
    const std::optional<JsonObject> text = c.Object("text_config");
    if (!text) Fail(origin, ": gemma3 config without text_config");
    c = *text;
    model_type = "gemma3_text";
  }
  Hyper h;
  if (model_type == "gemma") {
    h.generation = Generation::kGemma1;
  } else if (model_type == "gemma2") {
    h.generation = Generation::kGemma2;
  } else if (model_type == "gemma3_text") {
    h.generation = Generation::kGemma3;
  } else {
    Fail(origin, ": unknown or unsupported model_type '", model_type,
         "' (this engine runs gemma, gemma2, gemma3_text, gemma3)");
  }
  // HF writes null for keys a model leaves unset (soft-caps, rope_scaling);
  // elsewhere a null is a broken file, not a request for the default.
  auto number = [&](const char* key, std::optional<double> fallback,
                    Null null = Null::kIsError) -> double {
    const std::optional<double> v = c.Number(key, null);
    if (!v && !fallback) Fail(origin, ": missing key '", c.KeyPath(key), "'");
    return v ? *v : *fallback;
  };
  auto integer = [&](const char* key, std::optional<int64_t> fallback,
                     Null null = Null::kIsError) -> int {
    const std::optional<int64_t> v = c.Integer(key, 1, int64_t{1} << 30, null);
    if (!v && !fallback) Fail(origin, ": missing key '", c.KeyPath(key), "'");
    return static_cast<int>(v ? *v : *fallback);
  };
  h.hidden = integer("hidden_size", std::nullopt);
  h.layers = integer("num_hidden_layers", std::nullopt);
  h.heads = integer("num_attention_heads", std::nullopt);
  h.kv_heads = integer("num_key_value_heads", h.heads);
  h.head_dim = integer("head_dim", h.hidden / h.heads);
  h.ffn = integer("intermediate_size", std::nullopt);
  h.context = integer("max_position_embeddings", 8192);
  h.eps = static_cast<float>(number("rms_norm_eps", 1e-6));
  if (h.generation != Generation::kGemma1) {
    h.sliding_window = integer("sliding_window", 4096, Null::kMeansAbsent);
    h.query_pre_attn_scalar =
        static_cast<float>(number("query_pre_attn_scalar", h.head_dim, Null::kMeansAbsent));
  }
  if (h.generation == Generation::kGemma2) {
    h.attn_softcap = static_cast<float>(number("attn_logit_softcapping", 0, Null::kMeansAbsent));
  }
  h.final_softcap = static_cast<float>(number("final_logit_softcapping", 0, Null::kMeansAbsent));
  h.rope_global = static_cast<float>(number("rope_theta", 10000.0));
  h.rope_local = static_cast<float>(number("rope_local_base_freq", 10000.0));
  auto linear_factor = [&](const JsonObject& scaling) -> float {
    const std::string type =
        scaling.String("rope_type").value_or(scaling.String("type").value_or(""));
    if (type == "linear") return static_cast<float>(scaling.Number("factor").value_or(1.0));
    if (type.empty() || type == "default") return 1.0f;
    Fail(origin, ": unsupported rope scaling type '", type, "'");
  };
  if (const auto scaling = c.Object("rope_scaling", Null::kMeansAbsent)) {
    h.rope_global_factor = linear_factor(*scaling);
  }
  // Newer transformers write per-layer-type RoPE parameters instead.
  if (const auto rp = c.Object("rope_parameters", Null::kMeansAbsent)) {
    if (const auto full = rp->Object("full_attention", Null::kMeansAbsent)) {
      h.rope_global = static_cast<float>(full->Number("rope_theta").value_or(h.rope_global));
      h.rope_global_factor = linear_factor(*full);
    }
    if (const auto sliding = rp->Object("sliding_attention", Null::kMeansAbsent)) {
      h.rope_local = static_cast<float>(sliding->Number("rope_theta").value_or(h.rope_local));
    }
  }
  if (const nlohmann::json* types = c.Array("layer_types", Null::kMeansAbsent)) {
    if (static_cast<int>(types->size()) != h.layers) {
      Fail(origin, ": layer_types has ", types->size(), " entries for ", h.layers, " layers");
    }
    for (size_t i = 0; i < types->size(); ++i) {
      const nlohmann::json& t = (*types)[i];
      if (!t.is_string()) {
        Fail(origin, ": key '", c.KeyPath("layer_types"), "[", i, "]' should be a string but is ",
             JsonTypeName(t));
      }
      h.sliding.push_back(t.get<std::string>() == "sliding_attention");
    }
  } else if (h.generation == Generation::kGemma3 && c.Has("sliding_window_pattern")) {
    const int period = integer("sliding_window_pattern", 6);
    for (int i = 0; i < h.layers; ++i) h.sliding.push_back((i + 1) % period != 0);
  }
  const std::string embed = source.tensors.Find("model.embed_tokens.weight")
                                ? "model.embed_tokens.weight"
                            : source.tensors.Find("language_model.model.embed_tokens.weight")
                                ? "language_model.model.embed_tokens.weight"
                                : "model.language_model.embed_tokens.weight";
  h.vocab_size = VocabFromEmbedding(source, embed);
  CheckRanges(h, origin);
  ModelSpec spec = Expand(h);
  // Token ids: checked against the range of int32 before converting (the
  // vocabulary check comes with the tokenizer). eos_token_id may be a list
  // (Gemma 3: [1, 106]); its first entry is the end-of-sequence id.
  constexpr int64_t kMaxId = INT32_MAX;
  spec.bos_id =
      static_cast<int32_t>(c.Integer("bos_token_id", 0, kMaxId, Null::kMeansAbsent).value_or(2));
  const auto eos = c.json().find("eos_token_id");
  if (eos != c.json().end() && eos->is_array()) {
    if (eos->empty()) Fail(origin, ": key '", c.KeyPath("eos_token_id"), "' is an empty list");
    spec.eos_id = static_cast<int32_t>(ArrayElementInteger(c, "eos_token_id", 0, 0, kMaxId));
  } else {
    spec.eos_id =
        static_cast<int32_t>(c.Integer("eos_token_id", 0, kMaxId, Null::kMeansAbsent).value_or(1));
  }
  spec.Validate(origin);
  return spec;
}

ModelSpec BuildModelSpec(const ModelSource& source) {
  return source.format == ModelFormat::kGguf ? SpecFromGguf(source) : SpecFromHfConfig(source);
}

std::vector<KvLayerShape> KvShapes(const ModelSpec& spec) {
  std::vector<KvLayerShape> shapes;
  for (const LayerSpec& l : spec.layers) {
    shapes.push_back({l.num_key_value_heads, l.head_dim,
                      l.attention == AttentionType::kSliding ? l.sliding_window : 0,
                      l.kv_source_layer});
  }
  return shapes;
}

}  // namespace gemma
