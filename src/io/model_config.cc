#include "io/model_config.h"

#include <cmath>
#include <utility>

#include "base/error.h"
#include "io/gguf.h"
#include "io/json_fields.h"

namespace gemma {
namespace {

constexpr GgufForm kScalar = GgufForm::kScalar;
constexpr GgufForm kLayerTypes = GgufForm::kLayerTypes;
constexpr GgufForm kAsStored = GgufForm::kAsStored;
constexpr bool kNullUnset = true;

// Every config name a builder reads, with the GGUF key llama.cpp's converter
// writes for it (shared spec model-configs.md section 10, weight-formats.md
// B.3-B.4). Architecture-specific rows come before the general row of the
// same name or key. Names with no GGUF key are derived by the builders from
// what the file does have (noted per row).
constexpr ConfigKey kConfigKeys[] = {
    // Sizes.
    {"num_hidden_layers", "block_count"},
    {"hidden_size", "embedding_length"},
    // Per layer in gemma3n (MatFormer widths) and gemma4 (double-wide MLP).
    {"intermediate_size", "feed_forward_length"},
    {"max_position_embeddings", "context_length"},
    {"num_attention_heads", "attention.head_count"},
    // Per layer in gemma4: num_key_value_heads on sliding layers,
    // num_global_key_value_heads on global ones.
    {"num_key_value_heads", "attention.head_count_kv"},
    {"num_global_key_value_heads", nullptr, nullptr, kAsStored, kNullUnset},
    // gemma4 stores the global layers' head size as key_length and the
    // sliding layers' as key_length_swa; HF calls them global_head_dim and
    // head_dim.
    {"global_head_dim", "attention.key_length", "gemma4"},
    {"head_dim", "attention.key_length_swa", "gemma4"},
    {"head_dim", "attention.key_length"},
    {"rms_norm_eps", "attention.layer_norm_rms_epsilon"},

    // Attention pattern.
    {"sliding_window", "attention.sliding_window", nullptr, kAsStored, kNullUnset},
    // gemma3n/gemma4 write a bool per layer (true = sliding)...
    {"layer_types", "attention.sliding_window_pattern", nullptr, kLayerTypes, kNullUnset},
    // ...older HF Gemma 3 configs a period (every n-th layer global).
    {"sliding_window_pattern", "attention.sliding_window_pattern", nullptr, kScalar},
    // GGUF: none; llama.cpp derives it from the depth (gemma2/gemma3 builders).
    {"query_pre_attn_scalar", nullptr, nullptr, kAsStored, kNullUnset},
    {"attn_logit_softcapping", "attn_logit_softcapping", nullptr, kAsStored, kNullUnset},
    {"final_logit_softcapping", "final_logit_softcapping", nullptr, kAsStored, kNullUnset},
    // GGUF: gemma4 files have no attn_v tensors on K = V layers.
    {"attention_k_eq_v", nullptr},

    // RoPE. Newer HF configs write rope_parameters per layer type instead of
    // rope_theta / rope_local_base_freq / rope_scaling.
    {"rope_theta", "rope.freq_base"},
    {"rope_local_base_freq", "rope.freq_base_swa"},
    {"rope_scaling.rope_type", "rope.scaling.type"},
    {"rope_scaling.type", nullptr},  // older HF spelling of rope_type
    {"rope_scaling.factor", "rope.scaling.factor"},
    {"rope_parameters.full_attention", nullptr, nullptr, kAsStored, kNullUnset},
    {"rope_parameters.full_attention.rope_type", nullptr},
    {"rope_parameters.full_attention.type", nullptr},
    {"rope_parameters.full_attention.rope_theta", nullptr},
    {"rope_parameters.full_attention.factor", nullptr},
    // GGUF: gemma4's rope_freqs tensor (divisors 1 for rotated pairs, 1e30 for the rest).
    {"rope_parameters.full_attention.partial_rotary_factor", nullptr},
    {"rope_parameters.sliding_attention", nullptr, nullptr, kAsStored, kNullUnset},
    {"rope_parameters.sliding_attention.rope_type", nullptr},
    {"rope_parameters.sliding_attention.rope_theta", nullptr},

    // Gemma 3n / Gemma 4 (read by their builders; docs/model-builders.md).
    {"num_kv_shared_layers", "attention.shared_kv_layers"},
    {"hidden_size_per_layer_input", "embedding_length_per_layer_input"},
    {"vocab_size_per_layer_input", nullptr, nullptr, kAsStored, kNullUnset},  // GGUF: table rows
    {"use_double_wide_mlp", nullptr, nullptr, kAsStored, kNullUnset},         // GGUF: per-layer FFN
    {"altup_active_idx", "altup.active_idx"},
    {"altup_num_inputs", "altup.num_inputs"},
    // GGUF stores the gaussian cut-off per layer, Phi^-1(p) (-inf for a dense
    // layer); HF the target sparsity p (activation_sparsity_pattern).
    {"activation_sparsity_scale", "activation_sparsity_scale"},
    // null in HF's config class means no sparsity (every layer dense).
    {"activation_sparsity_pattern", nullptr, nullptr, kAsStored, kNullUnset},
    {"altup_correct_scale", nullptr},  // GGUF: always (llama.cpp applies it)
    {"laurel_rank", nullptr},          // GGUF: the rows of laurel_l
    {"enable_moe_block", nullptr, nullptr, kAsStored, kNullUnset},  // GGUF: expert_count > 0
    {"num_experts", "expert_count", nullptr, kAsStored, kNullUnset},
    {"top_k_experts", "expert_used_count", nullptr, kAsStored, kNullUnset},
    {"moe_intermediate_size", "expert_feed_forward_length", nullptr, kAsStored, kNullUnset},

    // Special tokens.
    {"bos_token_id", "tokenizer.ggml.bos_token_id", nullptr, kAsStored, kNullUnset},
    {"eos_token_id", "tokenizer.ggml.eos_token_id", nullptr, kAsStored, kNullUnset},
};

// `arch` is "" for config.json, where the names need no architecture.
bool RowApplies(const ConfigKey& row, std::string_view arch) {
  return row.only_arch == nullptr || arch.empty() || arch == row.only_arch;
}

// The row a builder reads `name` through. A name missing from the table is a
// mistake in the builder, not in the file.
const ConfigKey& RowFor(std::string_view name, std::string_view arch) {
  for (const ConfigKey& row : kConfigKeys) {
    if (name == row.name && RowApplies(row, arch)) return row;
  }
  Fail("internal error: config name '", name, "' is not in the translation table");
}

std::string FullGgufKey(std::string_view arch, const char* key) {
  const std::string_view k = key;
  if (k.substr(0, 10) == "tokenizer.") return std::string(k);
  return std::string(arch) + "." + std::string(k);
}

bool IsIntegerType(GgufType type) {
  return type != GgufType::kF32 && type != GgufType::kF64 && type != GgufType::kString &&
         type != GgufType::kArray;
}

}  // namespace

std::span<const ConfigKey> ConfigKeys() { return kConfigKeys; }

std::optional<std::string> GgufKeyFor(std::string_view arch, std::string_view name) {
  const ConfigKey& row = RowFor(name, arch);
  if (row.gguf == nullptr) return std::nullopt;
  return FullGgufKey(arch, row.gguf);
}

struct ModelConfig::GgufEntry {
  std::string key;  // the full metadata key
  const GgufValue* value;
  GgufForm form;
};

ModelConfig ModelConfig::FromGguf(const GgufFile& file) {
  ModelConfig c;
  c.gguf_ = &file;
  c.origin_ = file.path();
  const std::optional<std::string> arch = file.GetString("general.architecture");
  if (!arch) Fail(c.origin_, ": missing metadata key 'general.architecture'");
  c.arch_ = *arch;
  return c;
}

ModelConfig ModelConfig::FromHf(const nlohmann::json& json, std::string origin, std::string path) {
  (void)JsonObject(json, origin, path);  // throws unless an object
  ModelConfig c;
  c.hf_ = &json;
  c.origin_ = std::move(origin);
  c.hf_path_ = std::move(path);
  return c;
}

std::string ModelConfig::Where(std::string_view name) const {
  if (!is_gguf()) {
    return "key '" + (hf_path_.empty() ? "" : hf_path_ + ".") + std::string(name) + "'";
  }
  const ConfigKey& row = RowFor(name, arch_);
  if (row.gguf == nullptr) return "config value '" + std::string(name) + "' (no GGUF key)";
  return "metadata key '" + FullGgufKey(arch_, row.gguf) + "'";
}

void ModelConfig::FailMissing(std::string_view name) const {
  Fail(origin_, ": missing ", Where(name));
}

std::optional<ModelConfig::GgufEntry> ModelConfig::FindGguf(std::string_view name) const {
  // The first row for the name and architecture; a key read under two names
  // (sliding_window_pattern: a bool array or a period) is found only under
  // the name whose form fits the stored value.
  bool named = false;
  for (const ConfigKey& row : kConfigKeys) {
    if (name != row.name || !RowApplies(row, arch_)) continue;
    named = true;
    if (row.gguf == nullptr) return std::nullopt;
    const std::string key = FullGgufKey(arch_, row.gguf);
    const GgufValue* v = gguf_->Find(key);
    if (v == nullptr) return std::nullopt;
    const bool is_array = v->type == GgufType::kArray;
    if ((row.form == GgufForm::kScalar && is_array) ||
        (row.form == GgufForm::kLayerTypes && !is_array)) {
      return std::nullopt;  // the key's other form, read under another name
    }
    return GgufEntry{key, v, row.form};
  }
  if (!named) RowFor(name, arch_);  // throws the internal error
  return std::nullopt;
}

std::optional<ModelConfig::HfSlot> ModelConfig::FindHf(std::string_view name) const {
  const ConfigKey& row = RowFor(name, arch_);
  // Objects on the way ("rope_scaling" in "rope_scaling.factor") may be
  // absent or null; the last key follows the row's null rule.
  JsonObject parent(*hf_, origin_, hf_path_);
  std::string_view rest = name;
  for (size_t dot; (dot = rest.find('.')) != std::string_view::npos; rest = rest.substr(dot + 1)) {
    std::optional<JsonObject> inner =
        parent.Object(rest.substr(0, dot), JsonObject::Null::kMeansAbsent);
    if (!inner) return std::nullopt;
    parent = *inner;
  }
  const auto it = parent.json().find(rest);
  if (it == parent.json().end()) return std::nullopt;
  const JsonObject::Null null =
      row.hf_null_means_unset ? JsonObject::Null::kMeansAbsent : JsonObject::Null::kIsError;
  if (it->is_null() && null == JsonObject::Null::kMeansAbsent) return std::nullopt;
  return HfSlot{parent, std::string(rest), null, &*it};
}

bool ModelConfig::Has(std::string_view name) const {
  return is_gguf() ? FindGguf(name).has_value() : FindHf(name).has_value();
}

std::optional<int64_t> ModelConfig::Integer(std::string_view name, int64_t min, int64_t max) const {
  if (!is_gguf()) {
    const std::optional<HfSlot> s = FindHf(name);
    if (!s) return std::nullopt;
    return s->parent.Integer(s->key, min, max, s->null);
  }
  const std::optional<GgufEntry> e = FindGguf(name);
  if (!e) return std::nullopt;
  if (!e->value->IsInteger()) {
    Fail(origin_, ": metadata key '", e->key, "' should be an integer but is ",
         e->value->type == GgufType::kArray ? "an array (one value for every layer here)"
                                            : GgufTypeName(e->value->type));
  }
  const int64_t v = e->value->integer;
  if (v < min || v > max) {
    Fail(origin_, ": metadata key '", e->key, "' has invalid value ", v, " (expected ", min, "..",
         max, ")");
  }
  return v;
}

std::optional<double> ModelConfig::Number(std::string_view name) const {
  if (!is_gguf()) {
    const std::optional<HfSlot> s = FindHf(name);
    if (!s) return std::nullopt;
    return s->parent.Number(s->key, s->null);  // finite only
  }
  const std::optional<GgufEntry> e = FindGguf(name);
  if (!e) return std::nullopt;
  double number = 0;
  if (e->value->IsFloat()) {
    number = e->value->real;
  } else if (e->value->IsInteger()) {
    number = static_cast<double>(e->value->integer);
  } else {
    Fail(origin_, ": metadata key '", e->key, "' should be a number but is ",
         GgufTypeName(e->value->type));
  }
  if (!std::isfinite(number)) {
    Fail(origin_, ": metadata key '", e->key, "' is not a finite number");
  }
  return number;
}

std::optional<std::string> ModelConfig::String(std::string_view name) const {
  if (!is_gguf()) {
    const std::optional<HfSlot> s = FindHf(name);
    if (!s) return std::nullopt;
    return s->parent.String(s->key, s->null);
  }
  const std::optional<GgufEntry> e = FindGguf(name);
  if (!e) return std::nullopt;
  if (e->value->type != GgufType::kString) {
    Fail(origin_, ": metadata key '", e->key, "' should be a string but is ",
         GgufTypeName(e->value->type));
  }
  return e->value->str;
}

std::optional<bool> ModelConfig::Bool(std::string_view name) const {
  if (!is_gguf()) {
    const std::optional<HfSlot> s = FindHf(name);
    if (!s) return std::nullopt;
    return s->parent.Bool(s->key, s->null);
  }
  const std::optional<GgufEntry> e = FindGguf(name);
  if (!e) return std::nullopt;
  if (e->value->type != GgufType::kBool) {
    Fail(origin_, ": metadata key '", e->key, "' should be a bool but is ",
         GgufTypeName(e->value->type));
  }
  return e->value->integer != 0;
}

namespace {

// Element i of a GGUF numeric array as an integer in [min, max].
int64_t GgufArrayInteger(const GgufValue& v, size_t i, const std::string& origin,
                         const std::string& key, int64_t min, int64_t max) {
  if (!IsIntegerType(v.array_type)) {
    Fail(origin, ": metadata key '", key, "' should hold integers but holds ",
         GgufTypeName(v.array_type));
  }
  const double d = v.numbers[i];
  if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max))) {
    Fail(origin, ": metadata key '", key, "' entry ", i, " has invalid value ", d, " (expected ",
         min, "..", max, ")");
  }
  return static_cast<int64_t>(d);
}

}  // namespace

std::optional<std::vector<int64_t>> ModelConfig::IntegerList(std::string_view name, int64_t min,
                                                             int64_t max) const {
  std::vector<int64_t> out;
  if (!is_gguf()) {
    const std::optional<HfSlot> s = FindHf(name);
    if (!s) return std::nullopt;
    if (!s->value->is_array()) return std::vector<int64_t>{*Integer(name, min, max)};
    for (size_t i = 0; i < s->value->size(); ++i) {
      out.push_back(ArrayElementInteger(s->parent, s->key, i, min, max));
    }
    return out;
  }
  const std::optional<GgufEntry> e = FindGguf(name);
  if (!e) return std::nullopt;
  if (e->value->type != GgufType::kArray) return std::vector<int64_t>{*Integer(name, min, max)};
  for (size_t i = 0; i < e->value->numbers.size(); ++i) {
    out.push_back(GgufArrayInteger(*e->value, i, origin_, e->key, min, max));
  }
  return out;
}

void ModelConfig::CheckLayerCount(size_t entries, std::string_view name, int layers) const {
  if (entries != static_cast<size_t>(layers)) {
    Fail(origin_, ": ", Where(name), " has ", entries, " entries for ", layers, " layers");
  }
}

bool ModelConfig::IsList(std::string_view name) const {
  if (!is_gguf()) {
    const std::optional<HfSlot> s = FindHf(name);
    return s && s->value->is_array();
  }
  const std::optional<GgufEntry> e = FindGguf(name);
  return e && e->value->type == GgufType::kArray;
}

std::optional<std::vector<int64_t>> ModelConfig::PerLayerIntegers(std::string_view name, int layers,
                                                                  int64_t min, int64_t max) const {
  if (!Has(name)) return std::nullopt;
  if (!IsList(name)) {
    return std::vector<int64_t>(static_cast<size_t>(layers), *Integer(name, min, max));
  }
  std::vector<int64_t> values = *IntegerList(name, min, max);
  CheckLayerCount(values.size(), name, layers);
  return values;
}

std::optional<std::vector<double>> ModelConfig::PerLayerNumbers(std::string_view name,
                                                                int layers) const {
  if (!Has(name)) return std::nullopt;
  if (!IsList(name)) return std::vector<double>(static_cast<size_t>(layers), *Number(name));
  std::vector<double> out;
  if (!is_gguf()) {
    const HfSlot s = *FindHf(name);
    for (size_t i = 0; i < s.value->size(); ++i) {
      const nlohmann::json& x = (*s.value)[i];
      if (!x.is_number()) {
        s.parent.Fail(s.key + "[" + std::to_string(i) + "]",
                      "should be a number but is " + JsonTypeName(x));
      }
      out.push_back(x.get<double>());
    }
  } else {
    const GgufEntry e = *FindGguf(name);
    if (e.value->array_type == GgufType::kString || e.value->array_type == GgufType::kArray) {
      Fail(origin_, ": metadata key '", e.key, "' should hold numbers but holds ",
           GgufTypeName(e.value->array_type));
    }
    out = e.value->numbers;
  }
  CheckLayerCount(out.size(), name, layers);
  for (size_t i = 0; i < out.size(); ++i) {
    if (std::isnan(out[i])) Fail(origin_, ": ", Where(name), " entry ", i, " is not a number");
  }
  return out;
}

std::optional<std::vector<std::string>> ModelConfig::PerLayerStrings(std::string_view name,
                                                                     int layers) const {
  if (!Has(name)) return std::nullopt;
  std::vector<std::string> out;
  if (!is_gguf()) {
    const HfSlot s = *FindHf(name);
    if (!s.value->is_array()) {
      return std::vector<std::string>(static_cast<size_t>(layers), *String(name));
    }
    for (size_t i = 0; i < s.value->size(); ++i) {
      const nlohmann::json& x = (*s.value)[i];
      if (!x.is_string()) {
        s.parent.Fail(s.key + "[" + std::to_string(i) + "]",
                      "should be a string but is " + JsonTypeName(x));
      }
      out.push_back(x.get<std::string>());
    }
  } else {
    const GgufEntry e = *FindGguf(name);
    const GgufValue& v = *e.value;
    if (e.form == GgufForm::kLayerTypes) {
      if (v.array_type != GgufType::kBool) {
        Fail(origin_, ": metadata key '", e.key, "' should hold bools but holds ",
             GgufTypeName(v.array_type));
      }
      for (double sliding : v.numbers) {
        out.push_back(sliding != 0 ? "sliding_attention" : "full_attention");
      }
    } else if (v.type == GgufType::kString) {
      return std::vector<std::string>(static_cast<size_t>(layers), v.str);
    } else if (v.type == GgufType::kArray && v.array_type == GgufType::kString) {
      out = v.strings;
    } else {
      Fail(origin_, ": metadata key '", e.key, "' should hold strings but is ",
           GgufTypeName(v.type));
    }
  }
  CheckLayerCount(out.size(), name, layers);
  return out;
}

}  // namespace gemma
