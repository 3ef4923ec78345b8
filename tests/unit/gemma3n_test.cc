// Gemma 3n E2B on the golden case gemma3n_e2b: the builder reads AltUp,
// LAuReL, activation sparsity, per-layer FFN widths, per-layer embeddings
// and KV sharing alike from config.json and GGUF; the per-layer embedding
// table stays in the mapped file; the KV-sharing layers 5-7 have no cache of
// their own and their (shipped, unused) k/v weights are not read; logits do
// not depend on the batch; sessions saved and loaded, and the batch engine,
// give the reference's greedy tokens; bad configurations are refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <set>

#include "gemma/gemma.h"
#include "gemma/tools.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/model_source.h"
#include "io/tensor_catalog.h"
#include "memory/kv_memory.h"
#include "model/batch.h"
#include "model/spec.h"
#include "model/tensor_rows.h"
#include "model/transformer.h"
#include "model/weights.h"
#include "testing/engine_greedy.h"
#include "testing/golden_case.h"
#include "testing/safetensors_writer.h"
#include "threading/thread_pool.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

std::string Gguf(const std::string& type) {
  return testing::GoldenDir("gemma3n_e2b") + "/gguf/gemma3n_e2b." + type + ".gguf";
}
std::string Hf() { return testing::GoldenDir("gemma3n_e2b") + "/hf"; }

const nlohmann::json& Case() {
  static const nlohmann::json json = testing::LoadCaseJson("gemma3n_e2b");
  return json;
}
std::vector<int32_t> Prompt() { return Case()["prompt"]["ids"].get<std::vector<int32_t>>(); }
std::vector<int32_t> Greedy() { return Case()["greedy"]["ids"].get<std::vector<int32_t>>(); }

std::unique_ptr<Model> Open(const std::string& path, bool prefix_cache = false, int batch = 256,
                            bool exact = false, const char* kv = "f32") {
  ModelOptions options;
  options.threads = 2;
  options.context_length = 256;
  options.kv_cache_type = kv;
  options.parallel = 2;
  options.batch_size = batch;
  options.prefix_cache = prefix_cache;
  options.exact = exact;
  auto model = Model::Open(path, options);
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? std::move(model).value() : nullptr;
}

// What case.json's config_summary and description say, from either format
// (GGUF stores the sparsity cut-off Phi^-1(0.95) as f32, config.json the
// sparsity 0.95: the builder computes the same f32 value as HF's icdf).
TEST(Gemma3nBuilder, SpecFromBothFormats) {
  const std::vector<int> ffn = {128, 128, 128, 128, 64, 64, 64, 64};
  const std::vector<int> sources = {-1, -1, -1, -1, -1, 3, 3, 4};
  for (const std::string& path : {Hf(), Gguf("bf16"), Gguf("q8_0")}) {
    const ModelSpec spec = BuildModelSpec(OpenModelSource(path));
    ASSERT_EQ(spec.num_layers(), 8) << path;
    EXPECT_EQ(spec.architecture, "gemma3n");
    EXPECT_EQ(spec.altup_num_inputs, 4) << path;
    EXPECT_EQ(spec.altup_active_idx, 0) << path;
    EXPECT_EQ(spec.per_layer_input_size, 32) << path;
    EXPECT_EQ(spec.per_layer_vocab_size, 512) << path;
    EXPECT_EQ(spec.final_logit_softcap, 30.0f) << path;
    for (int i = 0; i < 8; ++i) {
      const LayerSpec& l = spec.layers[i];
      const bool global = i == 4 || i == 7;
      EXPECT_EQ(l.attention == AttentionType::kGlobal, global) << path << " layer " << i;
      EXPECT_EQ(l.sliding_window, global ? 0 : 16) << path << " layer " << i;
      EXPECT_EQ(l.rope_theta, global ? 1e6f : 1e4f) << path << " layer " << i;
      EXPECT_EQ(l.intermediate_size, ffn[i]) << path << " layer " << i;
      EXPECT_EQ(l.kv_source_layer, sources[i]) << path << " layer " << i;
      EXPECT_EQ(l.laurel_rank, 32) << path << " layer " << i;
      EXPECT_TRUE(l.altup && l.per_layer_input && l.qk_norm && l.value_norm && l.sandwich_norms);
      EXPECT_FALSE(l.layer_scalar);
      EXPECT_EQ(l.query_scale, 1.0f);
      EXPECT_EQ(l.activation_sparsity, i < 4) << path << " layer " << i;
      if (i < 4) {
        EXPECT_EQ(l.activation_sparsity_stddevs, 1.6448533535003662f) << path;
      }
    }
  }
}

// Every tensor of the golden files is read through exactly one row, but the
// k/v weights the checkpoint ships for the KV-sharing layers (case.json
// feature_checks.ignored_checkpoint_keys; GGUF blk.5-7.attn_k / attn_v /
// attn_k_norm), which no row reads: ListUnreadTensors lists exactly those
// (`gemma quantize` writes them through).
TEST(Gemma3nBuilder, RowsClaimEveryTensorButTheSharedLayersKv) {
  std::set<std::string> ignored_hf;
  for (const auto& key : Case()["feature_checks"]["ignored_checkpoint_keys"]) {
    const std::string name = key.get<std::string>();  // "model.layers.5.self_attn.k_proj.weight"
    ignored_hf.insert("model.language_model." + name.substr(std::string("model.").size()));
  }
  ASSERT_EQ(ignored_hf.size(), 9u);
  std::set<std::string> ignored_gguf;
  for (int layer : {5, 6, 7}) {
    for (const char* t : {"attn_k.weight", "attn_v.weight", "attn_k_norm.weight"}) {
      ignored_gguf.insert("blk." + std::to_string(layer) + "." + t);
    }
  }
  for (const std::string& path : {Gguf("bf16"), Gguf("q8_0"), Hf()}) {
    const ModelSource source = OpenModelSource(path);
    const ModelSpec spec = BuildModelSpec(source);
    std::set<std::string> listed, unread;
    for (const ModelTensor& t : ListModelTensors(source, spec)) {
      EXPECT_TRUE(listed.insert(t.entry->name).second) << path << ": twice " << t.entry->name;
    }
    for (const auto& [name, entry] : source.tensors.entries()) {
      if (!listed.count(name)) unread.insert(name);
    }
    EXPECT_EQ(unread, source.format == ModelFormat::kGguf ? ignored_gguf : ignored_hf) << path;
    std::set<std::string> listed_unread;
    for (const ModelTensor& t : ListUnreadTensors(source, spec)) {
      EXPECT_TRUE(listed_unread.insert(t.entry->name).second)
          << path << ": twice " << t.entry->name;
      EXPECT_TRUE(ignored_gguf.count(t.gguf_name)) << path << ": " << t.gguf_name;
    }
    EXPECT_EQ(listed_unread, unread) << path;
  }
}

// The table is bound to the file's bytes, in the file's type, never repacked.
TEST(Gemma3nMemory, PerLayerTableStaysInTheMapping) {
  for (const std::string& path : {Gguf("bf16"), Gguf("q8_0"), Hf()}) {
    const ModelSource source = OpenModelSource(path);
    const ModelSpec spec = BuildModelSpec(source);
    ModelWeights weights = BindWeights(source, spec);
    ThreadPool pool(2);
    PackWeightsForKernels(source, weights, pool);
    const TensorEntry* table = source.tensors.Find(
        source.format == ModelFormat::kGguf ? "per_layer_token_embd.weight"
                                            : "model.language_model.embed_tokens_per_layer.weight");
    ASSERT_NE(table, nullptr);
    EXPECT_EQ(weights.per_layer_embedding.data, table->data) << path;
    EXPECT_EQ(weights.per_layer_embedding.packed, nullptr) << path;
    EXPECT_EQ(MappedRowLookupBytes(weights), table->size_bytes) << path;
    EXPECT_EQ(weights.altup_projections.size(), 3u) << path;
    EXPECT_EQ(weights.altup_unembed_projections.size(), 3u) << path;
  }
}

// Layers 5-7 read layers 3, 3 and 4: no KV rows of their own, and the k/v
// weights the checkpoint ships for them (case.json
// feature_checks.ignored_checkpoint_keys) are not bound.
TEST(Gemma3nMemory, SharedLayersAllocateNoKvAndReadNoKvWeights) {
  const ModelSource source = OpenModelSource(Hf());
  const ModelSpec spec = BuildModelSpec(source);
  ASSERT_TRUE(source.tensors.Find("model.language_model.layers.5.self_attn.k_proj.weight"));
  const ModelWeights weights = BindWeights(source, spec);
  for (int i = 0; i < 8; ++i) {
    const bool shared = i >= 5;
    EXPECT_EQ(weights.layers[i].k_proj.data == nullptr, shared) << i;
    EXPECT_EQ(weights.layers[i].v_proj.data == nullptr, shared) << i;
    EXPECT_EQ(weights.layers[i].k_norm.empty(), shared) << i;
  }
  const std::vector<KvLayerShape> shapes = KvShapes(spec);
  const std::vector<KvLayerShape> own(shapes.begin(), shapes.begin() + 5);
  KvMemory::Config config;
  config.type = DType::kF32;
  config.context_length = 256;
  config.max_sequences = 2;
  EXPECT_EQ(KvMemory::BytesNeeded(shapes, config), KvMemory::BytesNeeded(own, config));
  const KvMemory kv(shapes, config);
  const std::vector<int> storage = {0, 1, 2, 3, 4, 3, 3, 4};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(kv.Storage(i), storage[i]) << i;
}

// The default path (packed weights; the AltUp and LAuReL matrices and the
// per-layer projection are f32 in the q8_0 file and run unpacked): a row's
// logits do not depend on how many rows share the step, to the bit.
TEST(Gemma3nBatch, LogitsDoNotDependOnBatchSize) {
  for (const std::string& path : {Gguf("q8_0"), Gguf("bf16"), Hf()}) {
    for (const char* kv : {"auto", "f32"}) {
      std::vector<std::vector<float>> runs;
      for (const int batch : {256, 5, 1}) {
        auto model = Open(path, false, batch, /*exact=*/false, kv);
        ASSERT_TRUE(model);
        Session s(*model);
        std::vector<float> logits;
        ASSERT_TRUE(s.Append(Prompt(), &logits).ok());
        runs.push_back(std::move(logits));
      }
      EXPECT_EQ(runs[1], runs[0]) << path << " kv " << kv << " batch 5";
      EXPECT_EQ(runs[2], runs[0]) << path << " kv " << kv << " batch 1";
    }
  }
}

// A session saved after part of the prompt and loaded into another
// continues with the reference's greedy tokens (batch 5: sliding rings wrap).
TEST(Gemma3nSession, SaveLoadKeepsTheGreedyContinuation) {
  for (const int batch : {256, 5}) {
    auto model = Open(Gguf("bf16"), false, batch);
    ASSERT_TRUE(model);
    testing::ExpectSaveLoadKeepsGreedy(*model, Prompt(), Greedy(), 40,
                                       "gemma3n_e2b_batch" + std::to_string(batch));
  }
}

// The batch engine: two requests decoded side by side both give the
// reference's greedy tokens; a third extending the first takes a block from
// the prefix cache and continues as the reference does.
TEST(Gemma3nSession, BatchEngineAndPrefixCache) {
  auto model = Open(Hf(), /*prefix_cache=*/true);
  ASSERT_TRUE(model);
  testing::ExpectEngineGreedyAndPrefixReuse(*model, Prompt(), Greedy(), /*expected_cached=*/64);
}

// A copy of the HF folder with text_config edited.
std::string EditedHf(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
  const fs::path dir =
      fs::temp_directory_path() / ("gemma3n_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"model.safetensors", "tokenizer.model", "tokenizer_config.json"}) {
    fs::copy_file(fs::path(Hf()) / f, dir / f);
  }
  std::ifstream in(fs::path(Hf()) / "config.json");
  nlohmann::json config = nlohmann::json::parse(in);
  edit(config["text_config"]);
  std::ofstream(dir / "config.json") << config.dump(1);
  return dir.string();
}

// Bad values are refused with the key named, never run.
TEST(Gemma3nBuilder, RefusesBadConfigurations) {
  struct BadCase {
    const char* name;
    std::function<void(nlohmann::json&)> edit;
    const char* message;
  };
  const BadCase cases[] = {
      {"sparsity", [](nlohmann::json& c) { c["activation_sparsity_pattern"][1] = 1.5; },
       "activation_sparsity_pattern"},
      {"sparsity_count",
       [](nlohmann::json& c) {
         c["activation_sparsity_pattern"] = {0.95, 0.0};
       },
       "activation_sparsity_pattern"},
      {"active", [](nlohmann::json& c) { c["altup_active_idx"] = 4; }, "altup_active_idx"},
      {"streams", [](nlohmann::json& c) { c["altup_num_inputs"] = 3; }, "altup"},
      {"laurel", [](nlohmann::json& c) { c["laurel_rank"] = 16; }, "laurel"},
      {"correct_scale", [](nlohmann::json& c) { c["altup_correct_scale"] = false; },
       "altup_correct_scale"},
  };
  for (const BadCase& bad : cases) {
    const std::string dir = EditedHf(bad.name, bad.edit);
    ModelOptions options;
    options.threads = 1;
    auto model = Model::Open(dir, options);
    fs::remove_all(dir);
    ASSERT_FALSE(model.ok()) << bad.name;
    EXPECT_NE(model.status().message().find(bad.message), std::string::npos)
        << bad.name << ": " << model.status().message();
  }
}

// A copy of the bf16 GGUF with its metadata edited (tensors as they are).
std::string EditedGguf(const std::string& name, const std::function<void(GgufWriter&)>& edit) {
  const std::string to =
      (fs::temp_directory_path() / ("gemma3n_" + name + "_" + std::to_string(::getpid()) + ".gguf"))
          .string();
  GgufFile in(Gguf("bf16"));
  GgufWriter out;
  for (const auto& [key, value] : in.metadata()) out.SetValue(key, value);
  edit(out);
  for (const std::string& tensor : in.tensor_order()) {
    const TensorEntry t = *in.tensors().Find(tensor);
    out.AddTensor(t.name, t.type, t.shape, std::vector<uint8_t>(t.data, t.data + t.size_bytes));
  }
  out.Write(to);
  return to;
}

// The same from GGUF metadata: refused with the key or tensor named.
TEST(Gemma3nBuilder, RefusesBadGgufMetadata) {
  auto scales = [](std::vector<double> numbers) {
    GgufValue v;
    v.type = GgufType::kArray;
    v.array_type = GgufType::kF32;
    v.array_size = numbers.size();
    v.numbers = std::move(numbers);
    return v;
  };
  const double inf = std::numeric_limits<double>::infinity();
  struct BadCase {
    const char* name;
    std::function<void(GgufWriter&)> edit;
    const char* message;
  };
  const BadCase cases[] = {
      {"active", [](GgufWriter& w) { w.SetU32("gemma3n.altup.active_idx", 4); },
       "altup.active_idx"},
      {"streams", [](GgufWriter& w) { w.SetU32("gemma3n.altup.num_inputs", 5); }, "altup"},
      {"scale_nan",
       [&](GgufWriter& w) {
         w.SetValue("gemma3n.activation_sparsity_scale",
                    scales({1.6, NAN, 1.6, 1.6, -inf, -inf, -inf, -inf}));
       },
       "activation_sparsity_scale"},
      {"scale_inf",
       [&](GgufWriter& w) {
         w.SetValue("gemma3n.activation_sparsity_scale",
                    scales({1.6, inf, 1.6, 1.6, -inf, -inf, -inf, -inf}));
       },
       "activation_sparsity_scale"},
      {"scale_count",
       [&](GgufWriter& w) {
         w.SetValue("gemma3n.activation_sparsity_scale", scales({1.6, 1.6}));
       },
       "activation_sparsity_scale"},
  };
  for (const BadCase& bad : cases) {
    const std::string path = EditedGguf(bad.name, bad.edit);
    ModelOptions options;
    options.threads = 1;
    auto model = Model::Open(path, options);
    fs::remove(path);
    ASSERT_FALSE(model.ok()) << bad.name;
    EXPECT_NE(model.status().message().find(bad.message), std::string::npos)
        << bad.name << ": " << model.status().message();
  }
}

// HF's config class reads a null activation_sparsity_pattern as no
// sparsity: every layer's MLP is dense.
TEST(Gemma3nBuilder, NullSparsityPatternMeansDense) {
  const std::string dir = EditedHf(
      "null_sparsity", [](nlohmann::json& c) { c["activation_sparsity_pattern"] = nullptr; });
  const ModelSpec spec = BuildModelSpec(OpenModelSource(dir));
  fs::remove_all(dir);
  for (const LayerSpec& l : spec.layers) EXPECT_FALSE(l.activation_sparsity);
}

// `gemma quantize` from the bf16 GGUF writes what llama.cpp's llama-quantize
// wrote into the golden q8_0 file (which it made from the value-identical
// f32 GGUF): every tensor, the shared layers' unused k/v included, in the
// same type and with the same bytes, and so the same logits. (From the HF
// folder: quantize_model_test.cc.)
TEST(Gemma3nQuantize, Q8FromBf16MatchesTheGoldenFile) {
  const std::string out =
      (fs::temp_directory_path() / ("gemma3n_q8_" + std::to_string(::getpid()) + ".gguf")).string();
  const Status s = QuantizeModel(Gguf("bf16"), out, "q8_0", 2, nullptr);
  ASSERT_TRUE(s.ok()) << s.message();
  {
    const ModelSource ours = OpenModelSource(out);
    const ModelSource golden = OpenModelSource(Gguf("q8_0"));
    EXPECT_EQ(ours.tensors.entries().size(), golden.tensors.entries().size());
    for (const auto& [name, t] : golden.tensors.entries()) {
      const TensorEntry* entry = ours.tensors.Find(name);
      ASSERT_NE(entry, nullptr) << name;
      EXPECT_EQ(entry->type, t.type) << name;
      EXPECT_EQ(entry->shape, t.shape) << name;
      ASSERT_EQ(entry->size_bytes, t.size_bytes) << name;
      EXPECT_EQ(std::memcmp(entry->data, t.data, t.size_bytes), 0) << name << " bytes differ";
    }
  }
  auto a = Open(out, false, 256, /*exact=*/true);
  auto b = Open(Gguf("q8_0"), false, 256, /*exact=*/true);
  fs::remove(out);
  ASSERT_TRUE(a && b);
  Session sa(*a), sb(*b);
  std::vector<float> la, lb;
  ASSERT_TRUE(sa.Append(Prompt(), &la).ok());
  ASSERT_TRUE(sb.Append(Prompt(), &lb).ok());
  EXPECT_EQ(la, lb);
}

// The HF checkpoint's AltUp projections are optional one by one (GGUF has
// them stacked instead); a folder lacking one is refused by name rather than
// written as a stack no reader accepts.
TEST(Gemma3nQuantize, HfFolderMissingAnAltUpProjectionIsRefused) {
  const std::string dir = EditedHf("no_altup_proj_2", [](nlohmann::json&) {});
  {
    const ModelSource golden = OpenModelSource(Hf());
    std::vector<const TensorEntry*> kept;
    for (const auto& [name, entry] : golden.tensors.entries()) {
      if (name != "model.language_model.altup_projections.2.weight") kept.push_back(&entry);
    }
    testing::WriteSafetensors(dir + "/model.safetensors", kept);
  }
  const std::string out = dir + "/out.gguf";
  const Status s = QuantizeModel(dir, out, "q8_0", 2, nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("2 tensors for 'altup_proj.weight' where the model has 3"),
            std::string::npos)
      << s.message();
  EXPECT_FALSE(fs::exists(out));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gemma
