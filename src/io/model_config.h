// A model's hyper-parameters under their Hugging Face config.json names,
// whether they come from a config.json or from GGUF metadata. One table
// (kConfigKeys in model_config.cc, listed in docs/model-builders.md) says
// which GGUF key holds each name, so the per-generation builders
// (src/model/gemma*.cc) read one vocabulary and never see the format.
//
// Values may be per layer: a GGUF key written as an array (llama.cpp does
// so for Gemma 3n/4 head counts, FFN widths and the sliding pattern) and a
// config.json list are both read by the PerLayer* getters, which also
// accept a single value for every layer.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/json_fields.h"

namespace gemma {

class GgufFile;

// How a GGUF value is read as a config value.
enum class GgufForm {
  kAsStored,  // a scalar, or an array read as one entry per layer
  kScalar,    // a scalar only (the key also has an array form, read by another row)
  // A bool array, true for a sliding layer, read as HF's layer_types strings
  // ("sliding_attention" / "full_attention").
  kLayerTypes,
};

// One row of the translation table.
struct ConfigKey {
  // The config.json key; nested objects dotted ("rope_scaling.factor").
  const char* name;
  // The GGUF key, after "{arch}." unless it starts with "tokenizer."; nullptr
  // when GGUF has no such key (the builder derives the value, or uses the
  // HF default).
  const char* gguf;
  // nullptr: the row holds for every architecture; else only for this one,
  // and it is found before the general rows.
  const char* only_arch = nullptr;
  GgufForm form = GgufForm::kAsStored;
  // HF writes null for "not set" on this key (soft-caps, rope_scaling...);
  // elsewhere a null is a broken file.
  bool hf_null_means_unset = false;
};

std::span<const ConfigKey> ConfigKeys();

// The full GGUF key under which `arch` files store the config name, or
// nullopt when the table has none ("gemma3", "num_key_value_heads" ->
// "gemma3.attention.head_count_kv").
std::optional<std::string> GgufKeyFor(std::string_view arch, std::string_view name);

class ModelConfig {
 public:
  // The GGUF file's metadata; its architecture is general.architecture
  // (throws gemma::Error when that is missing).
  static ModelConfig FromGguf(const GgufFile& file);
  // A config.json object (the text decoder's: `path` is "text_config" for a
  // multimodal checkpoint, "" at the top). `json` must outlive the config;
  // throws gemma::Error when it is not an object.
  static ModelConfig FromHf(const nlohmann::json& json, std::string origin, std::string path = "");

  bool is_gguf() const { return gguf_ != nullptr; }
  // The file errors name: the GGUF path, or ".../config.json".
  const std::string& origin() const { return origin_; }
  // GGUF: general.architecture ("gemma3"); HF: "".
  const std::string& gguf_architecture() const { return arch_; }
  // How the file spells the key, for messages: "metadata key
  // 'gemma3.block_count'" or "key 'text_config.num_hidden_layers'".
  std::string Where(std::string_view name) const;

  // Every getter returns nullopt when the key is absent (GGUF: or has no row
  // in the table) and throws gemma::Error naming the file and key when it is
  // present with the wrong type or out of range.
  bool Has(std::string_view name) const;
  std::optional<int64_t> Integer(std::string_view name, int64_t min, int64_t max) const;
  // Finite numbers only.
  std::optional<double> Number(std::string_view name) const;
  std::optional<std::string> String(std::string_view name) const;
  std::optional<bool> Bool(std::string_view name) const;
  // A single integer, or every entry of a list (HF's eos_token_id: [1, 106]).
  std::optional<std::vector<int64_t>> IntegerList(std::string_view name, int64_t min,
                                                  int64_t max) const;

  // One value per layer: a single value repeated, or a list of exactly
  // `layers` entries (anything else is an error naming the key and counts).
  std::optional<std::vector<int64_t>> PerLayerIntegers(std::string_view name, int layers,
                                                       int64_t min, int64_t max) const;
  // Infinities allowed (Gemma 3n's activation_sparsity_scale holds -inf),
  // NaN not.
  std::optional<std::vector<double>> PerLayerNumbers(std::string_view name, int layers) const;
  std::optional<std::vector<std::string>> PerLayerStrings(std::string_view name, int layers) const;

  // "<origin>: missing <Where(name)>".
  [[noreturn]] void FailMissing(std::string_view name) const;

 private:
  struct GgufEntry;  // a value found through the table
  // An HF value: the object holding it, its key there, the null rule, the value.
  struct HfSlot {
    JsonObject parent;
    std::string key;
    JsonObject::Null null;
    const nlohmann::json* value;
  };
  std::optional<GgufEntry> FindGguf(std::string_view name) const;
  std::optional<HfSlot> FindHf(std::string_view name) const;
  bool IsList(std::string_view name) const;
  void CheckLayerCount(size_t entries, std::string_view name, int layers) const;

  const GgufFile* gguf_ = nullptr;
  const nlohmann::json* hf_ = nullptr;
  std::string origin_;
  std::string arch_;
  std::string hf_path_;  // the object's path inside config.json ("text_config")
};

}  // namespace gemma
