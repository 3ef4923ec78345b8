// The translation table from GGUF metadata keys to config.json names
// (io/model_config.h): the keys llama.cpp's converter writes, per-layer
// arrays, and errors that name the key. Expected values are written out from
// the shared spec (model-configs.md sections 4, 5 and 10; weight-formats.md
// B.3), not produced by the code under test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "base/error.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/model_config.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

GgufValue Array(GgufType type, std::vector<double> numbers) {
  GgufValue v;
  v.type = GgufType::kArray;
  v.array_type = type;
  v.array_size = numbers.size();
  v.numbers = std::move(numbers);
  return v;
}

// A GGUF file holding only metadata, removed with the object.
class MetadataFile {
 public:
  explicit MetadataFile(const std::function<void(GgufWriter&)>& fill) {
    path_ = (fs::temp_directory_path() / ("builders_config_" + std::to_string(::getpid()) + "_" +
                                          std::to_string(counter_++) + ".gguf"))
                .string();
    GgufWriter w;
    fill(w);
    w.Write(path_);
    file_ = std::make_unique<GgufFile>(path_);
  }
  ~MetadataFile() { fs::remove(path_); }
  const GgufFile& file() const { return *file_; }
  ModelConfig config() const { return ModelConfig::FromGguf(*file_); }

 private:
  static inline int counter_ = 0;
  std::string path_;
  std::unique_ptr<GgufFile> file_;
};

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(ConfigKeys, GgufKeysAsLlamaCppWritesThem) {
  EXPECT_EQ(GgufKeyFor("gemma", "num_hidden_layers"), "gemma.block_count");
  EXPECT_EQ(GgufKeyFor("gemma2", "hidden_size"), "gemma2.embedding_length");
  EXPECT_EQ(GgufKeyFor("gemma3", "num_key_value_heads"), "gemma3.attention.head_count_kv");
  EXPECT_EQ(GgufKeyFor("gemma3", "intermediate_size"), "gemma3.feed_forward_length");
  EXPECT_EQ(GgufKeyFor("gemma3", "rope_local_base_freq"), "gemma3.rope.freq_base_swa");
  EXPECT_EQ(GgufKeyFor("gemma3", "rope_scaling.factor"), "gemma3.rope.scaling.factor");
  EXPECT_EQ(GgufKeyFor("gemma3", "head_dim"), "gemma3.attention.key_length");
  // Gemma 4: key_length is the global layers' head size, key_length_swa the
  // sliding layers' (HF: global_head_dim and head_dim).
  EXPECT_EQ(GgufKeyFor("gemma4", "head_dim"), "gemma4.attention.key_length_swa");
  EXPECT_EQ(GgufKeyFor("gemma4", "global_head_dim"), "gemma4.attention.key_length");
  EXPECT_EQ(GgufKeyFor("gemma3n", "layer_types"), "gemma3n.attention.sliding_window_pattern");
  EXPECT_EQ(GgufKeyFor("gemma3n", "num_kv_shared_layers"), "gemma3n.attention.shared_kv_layers");
  EXPECT_EQ(GgufKeyFor("gemma4", "num_experts"), "gemma4.expert_count");
  EXPECT_EQ(GgufKeyFor("gemma3", "eos_token_id"), "tokenizer.ggml.eos_token_id");
  // No GGUF key: llama.cpp derives the query scale from the depth.
  EXPECT_EQ(GgufKeyFor("gemma2", "query_pre_attn_scalar"), std::nullopt);
}

TEST(ConfigKeys, EveryRowIsDistinct) {
  // Two rows for one name and architecture would make the second dead.
  const auto rows = ConfigKeys();
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = i + 1; j < rows.size(); ++j) {
      const bool same_scope =
          (rows[i].only_arch == nullptr) == (rows[j].only_arch == nullptr) &&
          (rows[i].only_arch == nullptr || std::string(rows[i].only_arch) == rows[j].only_arch);
      EXPECT_FALSE(same_scope && std::string(rows[i].name) == rows[j].name)
          << "duplicate row for " << rows[i].name;
    }
  }
}

// The real Gemma 4 E2B as llama.cpp's converter writes it: 35 layers, FFN
// 6144 and 12288 in the 20 KV-shared layers (double-wide), (4 sliding,
// 1 global) x 7, head sizes 256 / 512.
TEST(ModelConfig, Gemma4E2BPerLayerArrays) {
  std::vector<double> ffn, pattern;
  for (int i = 0; i < 35; ++i) {
    ffn.push_back(i < 15 ? 6144 : 12288);
    pattern.push_back(i % 5 == 4 ? 0 : 1);
  }
  const MetadataFile f([&](GgufWriter& w) {
    w.SetString("general.architecture", "gemma4");
    w.SetU32("gemma4.block_count", 35);
    w.SetU32("gemma4.embedding_length", 1536);
    w.SetValue("gemma4.feed_forward_length", Array(GgufType::kI32, ffn));
    w.SetU32("gemma4.attention.head_count", 8);
    w.SetU32("gemma4.attention.head_count_kv", 1);
    w.SetU32("gemma4.attention.key_length", 512);
    w.SetU32("gemma4.attention.key_length_swa", 256);
    w.SetU32("gemma4.attention.sliding_window", 512);
    w.SetValue("gemma4.attention.sliding_window_pattern", Array(GgufType::kBool, pattern));
    w.SetU32("gemma4.attention.shared_kv_layers", 20);
    w.SetU32("gemma4.embedding_length_per_layer_input", 256);
    w.SetF32("gemma4.final_logit_softcapping", 30.0f);
  });
  const ModelConfig c = f.config();
  EXPECT_TRUE(c.is_gguf());
  EXPECT_EQ(c.gguf_architecture(), "gemma4");
  EXPECT_EQ(c.Integer("num_hidden_layers", 1, 1000), 35);
  EXPECT_EQ(c.Integer("head_dim", 1, 1024), 256);
  EXPECT_EQ(c.Integer("global_head_dim", 1, 1024), 512);
  EXPECT_EQ(c.Integer("num_kv_shared_layers", 0, 1000), 20);
  EXPECT_EQ(c.Integer("hidden_size_per_layer_input", 0, 1000), 256);
  EXPECT_EQ(c.Number("final_logit_softcapping"), 30.0);
  const std::vector<int64_t> widths = *c.PerLayerIntegers("intermediate_size", 35, 1, 1 << 20);
  for (int i = 0; i < 35; ++i) EXPECT_EQ(widths[i], i < 15 ? 6144 : 12288) << "layer " << i;
  // A scalar is every layer's value.
  EXPECT_EQ(*c.PerLayerIntegers("num_key_value_heads", 35, 1, 64), std::vector<int64_t>(35, 1));
  const std::vector<std::string> types = *c.PerLayerStrings("layer_types", 35);
  for (int i = 0; i < 35; ++i) {
    EXPECT_EQ(types[i], (i + 1) % 5 == 0 ? "full_attention" : "sliding_attention") << i;
  }
  // The bool array is not the Gemma 3 period.
  EXPECT_FALSE(c.Has("sliding_window_pattern"));
  // Absent keys, and names GGUF does not store.
  EXPECT_FALSE(c.Has("rope_theta"));
  EXPECT_FALSE(c.Has("query_pre_attn_scalar"));
  EXPECT_EQ(c.Integer("num_experts", 1, 1000), std::nullopt);
}

// The same names read from the HF config of the same model give the same
// values (model-configs.md section 5).
TEST(ModelConfig, Gemma4E2BFromConfigJson) {
  nlohmann::json types = nlohmann::json::array();
  for (int i = 0; i < 35; ++i)
    types.push_back((i + 1) % 5 == 0 ? "full_attention" : "sliding_attention");
  const nlohmann::json top = {
      {"model_type", "gemma4"},
      {"text_config",
       {{"model_type", "gemma4_text"},
        {"num_hidden_layers", 35},
        {"head_dim", 256},
        {"global_head_dim", 512},
        {"num_kv_shared_layers", 20},
        {"layer_types", types},
        {"final_logit_softcapping", 30.0},
        {"rope_scaling", nullptr},
        {"rope_parameters",
         {{"full_attention",
           {{"rope_type", "proportional"}, {"rope_theta", 1e6}, {"partial_rotary_factor", 0.25}}},
          {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 1e4}}}}}}}};
  const ModelConfig c = ModelConfig::FromHf(top["text_config"], "x/config.json", "text_config");
  EXPECT_FALSE(c.is_gguf());
  EXPECT_EQ(c.Integer("head_dim", 1, 1024), 256);
  EXPECT_EQ(c.Integer("global_head_dim", 1, 1024), 512);
  EXPECT_EQ(c.Integer("num_kv_shared_layers", 0, 1000), 20);
  EXPECT_EQ((*c.PerLayerStrings("layer_types", 35))[4], "full_attention");
  EXPECT_EQ((*c.PerLayerStrings("layer_types", 35))[5], "sliding_attention");
  EXPECT_EQ(c.Number("rope_parameters.full_attention.partial_rotary_factor"), 0.25);
  EXPECT_EQ(c.Number("rope_parameters.sliding_attention.rope_theta"), 1e4);
  EXPECT_EQ(c.String("rope_parameters.full_attention.rope_type"), "proportional");
  // rope_scaling is null: unset, and so is everything under it.
  EXPECT_FALSE(c.Has("rope_scaling.factor"));
  EXPECT_EQ(c.Where("head_dim"), "key 'text_config.head_dim'");
}

// Gemma 4 31B: head_count_kv per layer, 16 on the sliding layers and 4 on
// the global ones; Gemma 3n's sparsity cut-offs with -inf for dense layers.
TEST(ModelConfig, PerLayerHeadCountsAndSparsity) {
  std::vector<double> kv, sparsity;
  for (int i = 0; i < 12; ++i) kv.push_back((i + 1) % 6 == 0 ? 4 : 16);
  for (int i = 0; i < 6; ++i) {
    sparsity.push_back(i < 2 ? 1.6448533535003662 : -std::numeric_limits<double>::infinity());
  }
  const MetadataFile f([&](GgufWriter& w) {
    w.SetString("general.architecture", "gemma4");
    w.SetValue("gemma4.attention.head_count_kv", Array(GgufType::kU32, kv));
    w.SetValue("gemma4.activation_sparsity_scale", Array(GgufType::kF32, sparsity));
  });
  const ModelConfig c = f.config();
  const std::vector<int64_t> heads = *c.PerLayerIntegers("num_key_value_heads", 12, 1, 1024);
  EXPECT_EQ(heads, (std::vector<int64_t>{16, 16, 16, 16, 16, 4, 16, 16, 16, 16, 16, 4}));
  const std::vector<double> cut = *c.PerLayerNumbers("activation_sparsity_scale", 6);
  EXPECT_FLOAT_EQ(static_cast<float>(cut[0]), 1.6448533f);
  EXPECT_TRUE(std::isinf(cut[5]) && cut[5] < 0);
  // A per-layer value read as one value for all layers is refused.
  EXPECT_NE(ErrorOf([&] { c.Integer("num_key_value_heads", 1, 1024); })
                .find("metadata key 'gemma4.attention.head_count_kv' should be an integer but is "
                      "an array"),
            std::string::npos);
}

TEST(ModelConfig, BadPerLayerArraysNameTheKey) {
  const MetadataFile f([&](GgufWriter& w) {
    w.SetString("general.architecture", "gemma3");
    w.SetValue("gemma3.attention.head_count_kv", Array(GgufType::kU32, {2, 2, 2, 2, 1}));
    w.SetValue("gemma3.feed_forward_length", Array(GgufType::kF32, {128, 128}));
    w.SetValue("gemma3.attention.sliding_window_pattern", Array(GgufType::kBool, {1, 1, 0}));
    w.SetValue("gemma3.attention.head_count", Array(GgufType::kI32, {4, -4}));
  });
  const ModelConfig c = f.config();
  std::string e = ErrorOf([&] { c.PerLayerIntegers("num_key_value_heads", 6, 1, 1024); });
  EXPECT_NE(e.find("metadata key 'gemma3.attention.head_count_kv' has 5 entries for 6 layers"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find(f.file().path()), std::string::npos) << e;
  e = ErrorOf([&] { c.PerLayerIntegers("intermediate_size", 2, 1, 1 << 20); });
  EXPECT_NE(e.find("'gemma3.feed_forward_length' should hold integers but holds f32"),
            std::string::npos)
      << e;
  e = ErrorOf([&] { c.PerLayerStrings("layer_types", 6); });
  EXPECT_NE(e.find("'gemma3.attention.sliding_window_pattern' has 3 entries for 6 layers"),
            std::string::npos)
      << e;
  e = ErrorOf([&] { c.PerLayerIntegers("num_attention_heads", 2, 1, 1024); });
  EXPECT_NE(e.find("'gemma3.attention.head_count' entry 1 has invalid value -4"), std::string::npos)
      << e;
}

TEST(ModelConfig, HfListsAndNulls) {
  const nlohmann::json config = {{"intermediate_size", {128, 128, 64}},
                                 {"num_key_value_heads", {2, "2"}},
                                 {"final_logit_softcapping", nullptr},
                                 {"rope_theta", nullptr},
                                 {"eos_token_id", {1, 106}}};
  const ModelConfig c = ModelConfig::FromHf(config, "m/config.json");
  EXPECT_EQ(*c.PerLayerIntegers("intermediate_size", 3, 1, 1 << 20),
            (std::vector<int64_t>{128, 128, 64}));
  std::string e = ErrorOf([&] { c.PerLayerIntegers("intermediate_size", 4, 1, 1 << 20); });
  EXPECT_NE(e.find("m/config.json: key 'intermediate_size' has 3 entries for 4 layers"),
            std::string::npos)
      << e;
  e = ErrorOf([&] { c.PerLayerIntegers("num_key_value_heads", 2, 1, 64); });
  EXPECT_NE(e.find("key 'num_key_value_heads[1]' should be an integer but is a string"),
            std::string::npos)
      << e;
  // HF writes null for an unset soft-cap; a null RoPE base is a broken file.
  EXPECT_FALSE(c.Has("final_logit_softcapping"));
  EXPECT_EQ(c.Number("final_logit_softcapping"), std::nullopt);
  e = ErrorOf([&] { c.Number("rope_theta"); });
  EXPECT_NE(e.find("key 'rope_theta' should be a number but is null"), std::string::npos) << e;
  EXPECT_EQ(c.IntegerList("eos_token_id", 0, 1 << 30), (std::vector<int64_t>{1, 106}));
}

}  // namespace
}  // namespace gemma
