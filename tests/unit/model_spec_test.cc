// ModelSpec derivation from GGUF metadata and HF configs, and the checkpoint
// layouts that must load to the same model (sharded, multimodal Gemma 3).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "gemma/gemma.h"
#include "io/model_source.h"
#include "model/spec.h"
#include "testing/golden_case.h"
#include "testing/safetensors_writer.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

ModelSpec SpecOf(const std::string& path) { return BuildModelSpec(OpenModelSource(path)); }

std::string Gguf(const std::string& c, const std::string& t) {
  return testing::GoldenDir(c) + "/gguf/" + c + "." + t + ".gguf";
}

TEST(ModelSpec, Gemma2FromGgufAndHfAgree) {
  const ModelSpec g = SpecOf(Gguf("gemma2_swa", "q8_0"));
  const ModelSpec h = SpecOf(testing::GoldenDir("gemma2_swa") + "/hf");
  ASSERT_EQ(g.num_layers(), 46);
  ASSERT_EQ(h.num_layers(), 46);
  for (int i = 0; i < 46; ++i) {
    // Even layers slide (window 16), odd layers are global.
    EXPECT_EQ(g.layers[i].attention, i % 2 == 0 ? AttentionType::kSliding : AttentionType::kGlobal);
    EXPECT_EQ(h.layers[i].attention, g.layers[i].attention);
    EXPECT_EQ(g.layers[i].sliding_window, i % 2 == 0 ? 16 : 0);
    // The HF config says query_pre_attn_scalar 16; the GGUF has no such key
    // and 46 layers imply hidden/heads = 16.
    EXPECT_FLOAT_EQ(g.layers[i].query_scale, 0.25f);
    EXPECT_FLOAT_EQ(h.layers[i].query_scale, 0.25f);
    EXPECT_FLOAT_EQ(g.layers[i].attn_logit_softcap, 5.0f);
    EXPECT_TRUE(g.layers[i].sandwich_norms);
  }
  EXPECT_FLOAT_EQ(g.final_logit_softcap, 10.0f);
  EXPECT_FLOAT_EQ(h.final_logit_softcap, 10.0f);
}

TEST(ModelSpec, Gemma3LayerPatternAndRope) {
  for (const std::string& path :
       {Gguf("gemma3_qknorm", "q4_0"), testing::GoldenDir("gemma3_qknorm") + "/hf"}) {
    const ModelSpec s = SpecOf(path);
    ASSERT_EQ(s.num_layers(), 6) << path;
    for (int i = 0; i < 6; ++i) {
      const bool global = i == 5;
      EXPECT_EQ(s.layers[i].attention == AttentionType::kGlobal, global) << path << " layer " << i;
      EXPECT_FLOAT_EQ(s.layers[i].rope_theta, global ? 1e6f : 1e4f) << path;
      EXPECT_TRUE(s.layers[i].qk_norm);
      EXPECT_FLOAT_EQ(s.layers[i].query_scale, 1.0f / std::sqrt(32.0f));
    }
    EXPECT_EQ(s.final_logit_softcap, 0.0f);
  }
}

TEST(ModelSpec, Gemma1HasNoWindowAndHeadDimScale) {
  const ModelSpec s = SpecOf(Gguf("gemma1_mqa", "q8_0"));
  EXPECT_EQ(s.architecture, "gemma");
  for (const LayerSpec& l : s.layers) {
    EXPECT_EQ(l.attention, AttentionType::kGlobal);
    EXPECT_EQ(l.num_key_value_heads, 1);
    EXPECT_FLOAT_EQ(l.query_scale, 1.0f / std::sqrt(32.0f));
    EXPECT_FALSE(l.sandwich_norms);
  }
  EXPECT_FLOAT_EQ(s.embedding_scale, 8.0f);
}

class TempFolder {
 public:
  TempFolder() : path_(fs::temp_directory_path() / ("gemma_spec_test_" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempFolder() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

std::vector<float> PromptLogits(const std::string& path, const std::vector<int32_t>& ids) {
  auto model = Model::Open(path);
  EXPECT_TRUE(model.ok()) << model.status().message();
  if (!model.ok()) return {};
  Session session(**model);
  std::vector<float> logits;
  EXPECT_TRUE(session.Append(ids, &logits).ok());
  return logits;
}

// A checkpoint split over two shards with an index loads to the same model.
TEST(Checkpoints, ShardedSafetensors) {
  const std::string hf = testing::GoldenDir("gemma1_mqa") + "/hf";
  ModelSource source = OpenModelSource(hf);
  std::vector<const TensorEntry*> first, second;
  nlohmann::json index = {{"metadata", {{"total_size", source.TotalTensorBytes()}}},
                          {"weight_map", nlohmann::json::object()}};
  for (const auto& [name, t] : source.tensors.entries()) {
    const bool in_first = name.find("layers.0.") != std::string::npos || name.find("embed") != std::string::npos;
    (in_first ? first : second).push_back(&t);
    index["weight_map"][name] =
        in_first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  TempFolder dir;
  testing::WriteSafetensors(dir / "model-00001-of-00002.safetensors", first);
  testing::WriteSafetensors(dir / "model-00002-of-00002.safetensors", second);
  std::ofstream(dir / "model.safetensors.index.json") << index.dump();
  for (const char* f : {"config.json", "tokenizer.model"}) fs::copy_file(hf + "/" + f, dir / f);
  const std::vector<int32_t> ids = {2, 300, 301, 302, 17};
  EXPECT_EQ(PromptLogits(dir.str(), ids), PromptLogits(hf, ids));
}

// A Gemma3ForConditionalGeneration checkpoint: text decoder under
// language_model.model., config under text_config, a vision tower to ignore.
TEST(Checkpoints, Gemma3MultimodalLoadsTextDecoder) {
  const std::string hf = testing::GoldenDir("gemma3_qknorm") + "/hf";
  ModelSource source = OpenModelSource(hf);
  std::vector<const TensorEntry*> tensors;
  for (const auto& [name, t] : source.tensors.entries()) tensors.push_back(&t);
  TempFolder dir;
  // Written with the old prefix: "language_model." + "model.layers...".
  testing::WriteSafetensors(dir / "model.safetensors", tensors, "language_model.");
  nlohmann::json config = {{"model_type", "gemma3"},
                           {"architectures", {"Gemma3ForConditionalGeneration"}},
                           {"text_config", source.hf_config},
                           {"vision_config", {{"model_type", "siglip_vision_model"}}}};
  std::ofstream(dir / "config.json") << config.dump();
  fs::copy_file(hf + "/tokenizer.model", dir / "tokenizer.model");
  const std::vector<int32_t> ids = {2, 300, 301, 302, 17};
  EXPECT_EQ(PromptLogits(dir.str(), ids), PromptLogits(hf, ids));
}

}  // namespace
}  // namespace gemma
