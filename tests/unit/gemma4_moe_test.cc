// Gemma 4 26B-A4B-style mixture-of-experts layers on the golden case
// gemma4_moe: the builder reads the expert settings from both formats, the
// 3-D expert tensors are bound as one slice of the file per expert, and a
// decode step multiplies only the experts its token chose.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "io/model_source.h"
#include "memory/kv_memory.h"
#include "model/batch.h"
#include "model/spec.h"
#include "model/transformer.h"
#include "model/weights.h"
#include "testing/cli_runner.h"
#include "testing/golden_case.h"
#include "threading/thread_pool.h"

namespace gemma {
namespace {

std::string Gguf(const std::string& type) {
  return testing::GoldenDir("gemma4_moe") + "/gguf/gemma4_moe." + type + ".gguf";
}
std::string Hf() { return testing::GoldenDir("gemma4_moe") + "/hf"; }

TEST(MixtureOfExperts, SpecAndExpertSlices) {
  for (const std::string& path : {Gguf("bf16"), Gguf("q4_0"), Hf()}) {
    const ModelSource source = OpenModelSource(path);
    const ModelSpec spec = BuildModelSpec(source);
    ASSERT_EQ(spec.num_layers(), 6) << path;
    const ModelWeights weights = BindWeights(source, spec);
    for (int i = 0; i < spec.num_layers(); ++i) {
      const LayerSpec& l = spec.layers[i];
      EXPECT_TRUE(l.moe()) << path;
      EXPECT_EQ(l.num_experts, 8) << path;
      EXPECT_EQ(l.num_experts_per_token, 2) << path;
      EXPECT_EQ(l.expert_intermediate_size, 32) << path;
      EXPECT_EQ(l.intermediate_size, 64) << path;
      const LayerWeights& w = weights.layers[i];
      ASSERT_EQ(w.expert_gate_up.size(), 8u) << path;
      ASSERT_EQ(w.expert_down.size(), 8u) << path;
      EXPECT_EQ(w.router_scale.size(), 64u);
      EXPECT_EQ(w.per_expert_scale.size(), 8u);
      EXPECT_EQ(w.router_proj.rows, 8);
      EXPECT_EQ(w.router_proj.cols, 64);
      for (int e = 0; e < 8; ++e) {
        const WeightMatrix& gu = w.expert_gate_up[e];
        const WeightMatrix& down = w.expert_down[e];
        EXPECT_EQ(gu.rows, 64);
        EXPECT_EQ(gu.cols, 64);
        EXPECT_EQ(down.rows, 64);
        EXPECT_EQ(down.cols, 32);
        // Consecutive slices of the one tensor in the file.
        EXPECT_EQ(gu.Row(0), w.expert_gate_up[0].Row(0) + e * 64 * gu.row_bytes);
        EXPECT_EQ(down.Row(0), w.expert_down[0].Row(0) + e * 64 * down.row_bytes);
      }
    }
  }
}

int64_t LayerSum(const std::vector<int64_t>& counts, int layer, int experts) {
  return std::accumulate(counts.begin() + layer * experts, counts.begin() + (layer + 1) * experts,
                         int64_t{0});
}

// A prompt runs each expert once over the rows that chose it (k per row in
// all); a decode step then multiplies exactly k experts per layer, one row
// each, and leaves every other expert's weights unread.
TEST(MixtureOfExperts, DecodeRunsOnlyTheChosenExperts) {
  const nlohmann::json json = testing::LoadCaseJson("gemma4_moe");
  const std::vector<int32_t> prompt = json["prompt"]["ids"].get<std::vector<int32_t>>();
  for (const char* type : {"bf16", "q4_0"}) {
    const ModelSource source = OpenModelSource(Gguf(type));
    const ModelSpec spec = BuildModelSpec(source);
    ModelWeights weights = BindWeights(source, spec);
    ThreadPool pool(2);
    PackWeightsForKernels(source, weights, pool);
    Transformer executor(spec, weights, 64);
    KvMemory::Config config;
    config.type = DType::kF32;
    config.context_length = 128;
    config.max_batch = 64;
    KvMemory kv(KvShapes(spec), config);
    SequenceKv seq;
    std::vector<float> logits(static_cast<size_t>(spec.vocab_size));
    auto step = [&](std::span<const int32_t> ids) {
      ASSERT_TRUE(kv.Reserve(seq, seq.size() + static_cast<int>(ids.size())));
      Batch batch;
      batch.Add(seq, ids, /*last_logits=*/true);
      executor.Forward(batch, kv, pool, logits.data());
      kv.Commit(seq, ids);
    };
    step(prompt);
    const int experts = 8, k = 2;
    const std::vector<int64_t> after_prompt = executor.expert_tokens();
    ASSERT_EQ(after_prompt.size(), static_cast<size_t>(spec.num_layers() * experts));
    for (int layer = 0; layer < spec.num_layers(); ++layer) {
      EXPECT_EQ(LayerSum(after_prompt, layer, experts), static_cast<int64_t>(prompt.size()) * k);
    }
    const int32_t next =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    step(std::span<const int32_t>(&next, 1));
    const std::vector<int64_t>& after_decode = executor.expert_tokens();
    for (int layer = 0; layer < spec.num_layers(); ++layer) {
      int chosen = 0;
      for (int e = 0; e < experts; ++e) {
        const int64_t added = after_decode[layer * experts + e] - after_prompt[layer * experts + e];
        EXPECT_TRUE(added == 0 || added == 1) << type << " layer " << layer << " expert " << e;
        chosen += static_cast<int>(added);
      }
      EXPECT_EQ(chosen, k) << type << " layer " << layer;
    }
  }
}

// With several pool threads and enough chosen experts, a prompt runs the
// experts side by side, one per thread, in pieces of at most
// Transformer::kExpertPieceRows rows; on one thread one after another over
// the pool. The logits must be the same bits (a prompt of 200 tokens: each
// of the 8 experts gets ~50 rows, some more than a piece).
TEST(MixtureOfExperts, ExpertsSideBySideGiveTheBitsOfOneAfterAnother) {
  const nlohmann::json json = testing::LoadCaseJson("gemma4_moe");
  const std::vector<int32_t> ids = json["prompt"]["ids"].get<std::vector<int32_t>>();
  std::vector<int32_t> prompt;
  while (prompt.size() < 200) prompt.insert(prompt.end(), ids.begin(), ids.end());
  prompt.resize(200);
  const ModelSource source = OpenModelSource(Gguf("q4_0"));
  const ModelSpec spec = BuildModelSpec(source);
  ModelWeights weights = BindWeights(source, spec);
  ThreadPool packing(1);
  PackWeightsForKernels(source, weights, packing);
  auto run = [&](int threads) {
    ThreadPool pool(threads);
    Transformer executor(spec, weights, 256);
    KvMemory::Config config;
    config.type = DType::kF32;
    config.context_length = 512;
    config.max_batch = 256;
    KvMemory kv(KvShapes(spec), config);
    SequenceKv seq;
    std::vector<float> logits(static_cast<size_t>(spec.vocab_size)), all;
    std::vector<int32_t> next = prompt;
    for (int step = 0; step < 3; ++step) {
      EXPECT_TRUE(kv.Reserve(seq, seq.size() + static_cast<int>(next.size())));
      Batch batch;
      batch.Add(seq, next, /*last_logits=*/true);
      executor.Forward(batch, kv, pool, logits.data());
      kv.Commit(seq, next);
      all.insert(all.end(), logits.begin(), logits.end());
      next = {
          static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin())};
    }
    return all;
  };
  const std::vector<float> one = run(1);
  for (int threads : {2, 3, 4}) {
    const std::vector<float> several = run(threads);
    ASSERT_EQ(several.size(), one.size());
    size_t differ = 0;
    for (size_t i = 0; i < one.size(); ++i) differ += several[i] != one[i];
    EXPECT_EQ(differ, 0u) << threads << " threads";
  }
}

// `gemma info` lists each layer's experts, top-k and expert width.
TEST(MixtureOfExperts, InfoShowsExperts) {
  const testing::CliOutput text =
      testing::RunCli("info --no-tensors -m '" + Gguf("q8_0") + "'", "", true);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.text.find("layers 5: global, heads 4/1 x 64, ffn 64, rope 1e+06 on 8/32 pairs, "
                           "K = V, v norm, layer scalar, experts 8 top-2 x 32\n"),
            std::string::npos)
      << text.text;
  EXPECT_NE(text.text.find("layers 0 1 2 3 4: sliding 16, heads 4/2 x 32, ffn 64, v norm, "
                           "layer scalar, experts 8 top-2 x 32\n"),
            std::string::npos)
      << text.text;
}

}  // namespace
}  // namespace gemma
