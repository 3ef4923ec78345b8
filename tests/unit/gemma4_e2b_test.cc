// Gemma 4 E2B's two memory features on the golden case gemma4_e2b: the
// per-layer embedding table stays in the mapped file (rows read per token,
// never repacked, not counted as resident), and the KV-sharing layers 5-7
// alias the KV of layers 3 and 4 (no storage of their own) through sessions,
// session files and the prefix cache.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "gemma/gemma.h"
#include "io/model_source.h"
#include "memory/kv_memory.h"
#include "model/spec.h"
#include "model/weights.h"
#include "testing/engine_greedy.h"
#include "testing/golden_case.h"
#include "threading/thread_pool.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

std::string Gguf(const std::string& type) {
  return testing::GoldenDir("gemma4_e2b") + "/gguf/gemma4_e2b." + type + ".gguf";
}

const nlohmann::json& Case() {
  static const nlohmann::json json = testing::LoadCaseJson("gemma4_e2b");
  return json;
}
std::vector<int32_t> Prompt() { return Case()["prompt"]["ids"].get<std::vector<int32_t>>(); }
std::vector<int32_t> Greedy() { return Case()["greedy"]["ids"].get<std::vector<int32_t>>(); }

std::unique_ptr<Model> Open(const std::string& path, bool prefix_cache = false, int batch = 256) {
  ModelOptions options;
  options.threads = 2;
  options.context_length = 256;
  options.kv_cache_type = "f32";
  options.parallel = 2;
  options.batch_size = batch;
  options.prefix_cache = prefix_cache;
  auto model = Model::Open(path, options);
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? std::move(model).value() : nullptr;
}

size_t TensorBytes(const ModelInfo& info, const std::string& name) {
  for (const TensorSummary& t : info.tensors) {
    if (t.name == name) return t.bytes;
  }
  ADD_FAILURE() << "no tensor " << name;
  return 0;
}

// The table is bound to the file's bytes, in the file's type, and neither
// repacked nor counted among the bytes every token reads.
TEST(PerLayerEmbeddings, TableStaysInTheMapping) {
  for (const char* type : {"bf16", "q8_0", "q4_0"}) {
    const ModelSource source = OpenModelSource(Gguf(type));
    const ModelSpec spec = BuildModelSpec(source);
    ModelWeights weights = BindWeights(source, spec);
    ThreadPool pool(2);
    PackWeightsForKernels(source, weights, pool);
    const TensorEntry* table = source.tensors.Find("per_layer_token_embd.weight");
    ASSERT_NE(table, nullptr);
    EXPECT_EQ(weights.per_layer_embedding.data, table->data) << type;
    EXPECT_EQ(weights.per_layer_embedding.type, table->type) << type;
    EXPECT_EQ(weights.per_layer_embedding.packed, nullptr) << type;
    EXPECT_EQ(MappedRowLookupBytes(weights), table->size_bytes) << type;
  }
}

// What `gemma info` reports: with --exact nothing is repacked and every
// matrix a token multiplies by is read from the mapping, all but the table.
TEST(PerLayerEmbeddings, NotCountedAsResident) {
  // Bytes of every matrix but the table (the norms are vectors).
  const auto matrices_but_table = [](const ModelInfo& info) {
    size_t bytes = 0;
    for (const TensorSummary& t : info.tensors) {
      if (t.shape.size() == 2 && t.name != "per_layer_token_embd.weight") bytes += t.bytes;
    }
    return bytes;
  };
  for (const char* type : {"bf16", "q4_0"}) {
    ModelOptions options;
    options.exact = true;
    auto model = Model::Open(Gguf(type), options);
    ASSERT_TRUE(model.ok()) << model.status().message();
    const ModelInfo& info = (*model)->info();
    const size_t table = TensorBytes(info, "per_layer_token_embd.weight");
    const size_t matrices = matrices_but_table(info);
    EXPECT_EQ(info.packed_bytes, 0u);
    EXPECT_EQ(info.mapped_weights_bytes, matrices) << type;
    EXPECT_EQ(info.mapped_lookup_bytes, table) << type;
    EXPECT_EQ(info.resident_weights_bytes, matrices) << type;
  }
  // The default path repacks the quantized matrices; the f32 projection of
  // the q4_0 file is read from the mapping, the table still not at all. A CPU
  // with no packed kernels (no AVX2, ARM) reads every matrix from the mapping.
  auto model = Model::Open(Gguf("q4_0"), ModelOptions{});
  ASSERT_TRUE(model.ok());
  const ModelInfo& info = (*model)->info();
  EXPECT_EQ(info.mapped_weights_bytes, info.packed_bytes > 0
                                           ? TensorBytes(info, "per_layer_model_proj.weight")
                                           : matrices_but_table(info));
  EXPECT_EQ(info.mapped_lookup_bytes, TensorBytes(info, "per_layer_token_embd.weight"));
}

// Layers 5-7 read layers 3, 3 and 4 (the last non-shared layer of their
// type) and the memory has no rows of their own: the same bytes as for the
// five layers that store.
TEST(KvSharing, SharedLayersAllocateNothing) {
  const ModelSpec spec = BuildModelSpec(OpenModelSource(Gguf("q8_0")));
  const std::vector<int> sources = {-1, -1, -1, -1, -1, 3, 3, 4};
  ASSERT_EQ(spec.num_layers(), 8);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(spec.layers[i].kv_source_layer, sources[i]) << i;
  const std::vector<KvLayerShape> shapes = KvShapes(spec);
  const std::vector<KvLayerShape> own(shapes.begin(), shapes.begin() + 5);
  for (const int sequences : {1, 4}) {
    KvMemory::Config config;
    config.type = DType::kF32;
    config.context_length = 256;
    config.max_sequences = sequences;
    config.prefix_cache = sequences > 1;
    EXPECT_EQ(KvMemory::BytesNeeded(shapes, config), KvMemory::BytesNeeded(own, config));
    const KvMemory kv(shapes, config);
    for (int i = 0; i < 8; ++i) EXPECT_EQ(kv.Storage(i), sources[i] < 0 ? i : sources[i]) << i;
  }
}

// A session saved after part of the prompt and loaded into another (the
// shared layers' rows arrive with their sources) continues with the
// reference's greedy tokens, with sliding rings that wrapped (batch 5).
TEST(KvSharing, SaveLoadKeepsTheGreedyContinuation) {
  for (const int batch : {256, 5}) {
    auto model = Open(Gguf("bf16"), false, batch);
    ASSERT_TRUE(model);
    testing::ExpectSaveLoadKeepsGreedy(*model, Prompt(), Greedy(), 40,
                                       "gemma4_e2b_batch" + std::to_string(batch));
  }
}

// The batch engine: two requests decoded together in one step (their
// sequences side by side in the memory) both give the reference's greedy
// tokens; a third whose prompt is the first's prompt and answer takes one
// 64-position block (the shared layers' rows with it) from the prefix cache
// and continues as the reference does.
TEST(KvSharing, BatchEngineAndPrefixCache) {
  auto model = Open(Gguf("bf16"), /*prefix_cache=*/true);
  ASSERT_TRUE(model);
  testing::ExpectEngineGreedyAndPrefixReuse(*model, Prompt(), Greedy(), /*expected_cached=*/64);
}

}  // namespace
}  // namespace gemma
