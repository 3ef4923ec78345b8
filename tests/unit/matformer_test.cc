// MatFormer mix-n-match (ModelOptions::matformer): slicing a Gemma 3n model
// at load computes exactly what the same slice computes when it is written
// out as its own checkpoint (gate/up rows, down columns, the skipped layer's
// tensors and per-layer-embedding slices removed, the config to match), on
// the --exact and the default paths; configurations that do not fit are
// refused by name.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "gemma/gemma.h"
#include "io/model_source.h"
#include "testing/golden_case.h"
#include "testing/safetensors_writer.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

const char kPlan[] = "ffn=64,64,64,64,32,32,32,32 skip=6";
const std::vector<int> kWidths = {64, 64, 64, 64, 32, 32, 32, 32};
constexpr int kSkipped = 6;

std::string FullModel() { return testing::GoldenDir("gemma3n_e2b") + "/hf"; }

// The plan above written out by hand as a checkpoint folder of its own.
class SlicedCheckpoint {
 public:
  SlicedCheckpoint()
      : dir_(fs::temp_directory_path() / ("gemma_matformer_" + std::to_string(::getpid()))) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const ModelSource source = OpenModelSource(FullModel());
    const std::regex layer_name(R"(^(.*\.layers\.)(\d+)\.(.*)$)");
    const int P = source.hf_config["text_config"]["hidden_size_per_layer_input"].get<int>();
    std::vector<const TensorEntry*> written;
    entries_.reserve(source.tensors.entries().size());
    for (const auto& [name, t] : source.tensors.entries()) {
      TensorEntry e = t;
      const size_t elem = Info(t.type).block_bytes;  // bf16: 2 bytes an element
      std::smatch m;
      if (std::regex_match(name, m, layer_name)) {
        const int layer = std::stoi(m[2]);
        if (layer == kSkipped) continue;
        e.name = m[1].str() + std::to_string(layer - (layer > kSkipped)) + "." + m[3].str();
        const int64_t width = kWidths[layer];
        if (m[3] == "mlp.gate_proj.weight" || m[3] == "mlp.up_proj.weight") {
          e.shape[0] = width;  // the first rows
          e.size_bytes = static_cast<size_t>(width * t.shape[1]) * elem;
        } else if (m[3] == "mlp.down_proj.weight") {
          e.data = Keep(Columns(t, 0, width, -1, -1, elem));
          e.shape[1] = width;
          e.size_bytes = static_cast<size_t>(t.shape[0] * width) * elem;
        }
      } else if (name.find("embed_tokens_per_layer") != std::string::npos) {
        // [vocab, L*P]: the skipped layer's P columns go.
        e.data = Keep(Columns(t, 0, int64_t{kSkipped} * P, (kSkipped + 1) * P, t.shape[1], elem));
        e.shape[1] -= P;
        e.size_bytes = static_cast<size_t>(e.shape[0] * e.shape[1]) * elem;
      } else if (name.find("per_layer_model_projection") != std::string::npos) {
        // [L*P, H]: the skipped layer's P rows go.
        const size_t row = static_cast<size_t>(t.shape[1]) * elem;
        std::vector<uint8_t> bytes(t.data, t.data + kSkipped * P * row);
        bytes.insert(bytes.end(), t.data + (kSkipped + 1) * P * row, t.data + t.size_bytes);
        e.data = Keep(std::move(bytes));
        e.shape[0] -= P;
        e.size_bytes -= P * row;
      }
      entries_.push_back(e);
    }
    for (const TensorEntry& e : entries_) written.push_back(&e);
    testing::WriteSafetensors((dir_ / "model.safetensors").string(), written);

    nlohmann::json config = source.hf_config;
    nlohmann::json& text = config["text_config"];
    text["num_hidden_layers"] = 7;
    text["intermediate_size"] = {64, 64, 64, 64, 32, 32, 32};
    for (const char* list : {"layer_types", "activation_sparsity_pattern"}) {
      text[list].erase(kSkipped);
    }
    text["num_kv_shared_layers"] = text["num_kv_shared_layers"].get<int>() - 1;
    std::ofstream(dir_ / "config.json") << config.dump(1);
    for (const char* f : {"tokenizer.model", "tokenizer_config.json"}) {
      fs::copy_file(FullModel() + "/" + f, dir_ / f);
    }
  }
  ~SlicedCheckpoint() { fs::remove_all(dir_); }
  std::string path() const { return dir_.string(); }

 private:
  // Rows of `t` keeping columns [0, a) and [b, end) (b < 0: none).
  static std::vector<uint8_t> Columns(const TensorEntry& t, int64_t from, int64_t a, int64_t b,
                                      int64_t end, size_t elem) {
    std::vector<uint8_t> out;
    const size_t row = static_cast<size_t>(t.shape[1]) * elem;
    for (int64_t r = 0; r < t.shape[0]; ++r) {
      const uint8_t* p = t.data + r * row;
      out.insert(out.end(), p + from * elem, p + a * elem);
      if (b >= 0) out.insert(out.end(), p + b * elem, p + end * elem);
    }
    return out;
  }
  const uint8_t* Keep(std::vector<uint8_t> bytes) {
    buffers_.push_back(std::make_unique<std::vector<uint8_t>>(std::move(bytes)));
    return buffers_.back()->data();
  }

  fs::path dir_;
  std::vector<TensorEntry> entries_;
  std::vector<std::unique_ptr<std::vector<uint8_t>>> buffers_;
};

std::vector<float> Logits(const std::string& path, const ModelOptions& options) {
  auto model = Model::Open(path, options);
  EXPECT_TRUE(model.ok()) << model.status().message();
  if (!model.ok()) return {};
  Session session(**model);
  std::vector<float> logits;
  const nlohmann::json c = testing::LoadCaseJson("gemma3n_e2b");
  EXPECT_TRUE(session.Append(c["prompt"]["ids"].get<std::vector<int32_t>>(), &logits).ok());
  return logits;
}

TEST(MatFormer, SlicingAtLoadEqualsTheSlicedCheckpoint) {
  const SlicedCheckpoint sliced;
  for (bool exact : {true, false}) {
    SCOPED_TRACE(exact ? "exact" : "default path");
    ModelOptions options;
    options.exact = exact;
    options.threads = 2;
    const std::vector<float> expected = Logits(sliced.path(), options);
    options.matformer = kPlan;
    const std::vector<float> ours = Logits(FullModel(), options);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(ours, expected);
    // And the slice is a different model from the whole one.
    options.matformer = "";
    EXPECT_NE(Logits(FullModel(), options), expected);
  }
}

TEST(MatFormer, InfoDescribesTheSlice) {
  ModelOptions options;
  options.matformer = kPlan;
  auto model = Model::Open(FullModel(), options);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const ModelInfo& info = (*model)->info();
  EXPECT_EQ(info.matformer, "ffn 64 x4, 32 x4; skipped layers 6");
  ASSERT_EQ(info.num_layers, 7);
  EXPECT_EQ(info.layers[0].intermediate_size, 64);
  EXPECT_EQ(info.layers[6].intermediate_size, 32);
  EXPECT_EQ(info.layers[6].kv_source_layer, 4);  // the full model's layer 7 read layer 4
  EXPECT_EQ(info.layers[5].kv_source_layer, 3);
}

// A session saved by the sliced model is not the whole model's.
TEST(MatFormer, SessionsOfTheSliceDoNotLoadIntoTheWholeModel) {
  const std::string file =
      (fs::temp_directory_path() / ("gemma_matformer_session_" + std::to_string(::getpid())))
          .string();
  ModelOptions options;
  options.matformer = "ffn=32";
  auto sliced = Model::Open(FullModel(), options);
  auto whole = Model::Open(FullModel());
  ASSERT_TRUE(sliced.ok() && whole.ok());
  Session a(**sliced);
  ASSERT_TRUE(a.Append(std::vector<int32_t>{2, 300, 301}).ok());
  ASSERT_TRUE(a.Save(file).ok());
  Session b(**whole);
  EXPECT_FALSE(b.Load(file).ok());
  fs::remove(file);
}

TEST(MatFormer, ConfigurationsThatDoNotFitAreRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ffn=96", "layer 4's feed-forward width 96 is not within 1..64"},
      {"ffn=0", "layer 0's feed-forward width 0"},
      {"ffn=64,64", "one width or one per layer (8), not 2"},
      {"ffn=6x", "width \"6x\" is not a whole number"},
      {"skip=3", "layer 5 reads the keys and values of layer 3, which cannot be skipped"},
      {"skip=0-7", "every layer is skipped"},
      {"skip=7-9", "skipped layers \"7-9\" are not within 0..7"},
      {"e2b", "\"e2b\" slices a 35-layer Gemma 3n E4B; this model has 8"},
      {"width=3", "unknown part \"width=3\""},
      {" ", "empty configuration"},
  };
  for (const auto& [plan, message] : cases) {
    ModelOptions options;
    options.matformer = plan;
    auto model = Model::Open(FullModel(), options);
    ASSERT_FALSE(model.ok()) << plan;
    EXPECT_NE(model.status().message().find(message), std::string::npos)
        << plan << ": " << model.status().message();
  }
  ModelOptions options;
  options.matformer = "ffn=32";
  auto dense = Model::Open(testing::GoldenDir("gemma4_e2b") + "/hf", options);
  ASSERT_FALSE(dense.ok());
  EXPECT_NE(dense.status().message().find("applies to Gemma 3n models"), std::string::npos)
      << dense.status().message();
}

}  // namespace
}  // namespace gemma
