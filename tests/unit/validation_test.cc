// Requests and files the engine used to accept silently: layer tensors beyond
// block_count, sampling parameters out of range, -n -1, absurd thread counts,
// re-quantizing quantized weights.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

#include "gemma/gemma.h"
#include "gemma/tools.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "runtime/limits.h"
#include "testing/golden_case.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

std::string TempPath(const std::string& name) {
  return (fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()))).string();
}

std::string Gguf(const std::string& c, const std::string& type) {
  return testing::GoldenDir(c) + "/gguf/" + c + "." + type + ".gguf";
}

// The golden file with one metadata key set to `layers`.
std::string WithBlockCount(const std::string& from, const std::string& key, uint32_t layers) {
  const std::string path = TempPath("gemma_block_count_" + std::to_string(layers)) + ".gguf";
  GgufFile in(from);
  GgufWriter out;
  for (const auto& [k, value] : in.metadata()) out.SetValue(k, value);
  out.SetU32(key, layers);
  for (const std::string& name : in.tensor_order()) {
    const TensorEntry& t = *in.tensors().Find(name);
    out.AddTensor(name, t.type, t.shape, std::vector<uint8_t>(t.data, t.data + t.size_bytes));
  }
  out.Write(path);
  return path;
}

TEST(BlockCount, TensorsOfExtraLayersAreAnError) {
  // gemma2_swa has 46 layers; metadata claiming 44 would run 44 and ignore two.
  const std::string path = WithBlockCount(Gguf("gemma2_swa", "q8_0"), "gemma2.block_count", 44);
  auto model = Model::Open(path);
  ASSERT_FALSE(model.ok()) << "a 46-layer file loaded as 44 layers";
  EXPECT_NE(model.status().message().find(
                "the metadata says 44 layers (gemma2.block_count) but the file has tensors for "
                "layer 45 ('blk.45."),
            std::string::npos)
      << model.status().message();
  fs::remove(path);
}

TEST(BlockCount, MissingLayersAreAnError) {
  const std::string path = WithBlockCount(Gguf("gemma2_swa", "q8_0"), "gemma2.block_count", 48);
  auto model = Model::Open(path);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("missing tensor 'blk.46."), std::string::npos)
      << model.status().message();
  fs::remove(path);
}

TEST(SamplingParams, DefaultsAndUsualValuesAreValid) {
  EXPECT_TRUE(ValidateSamplingParams({}).ok());
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 64;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  p.repetition_penalty = 1.1f;
  p.presence_penalty = -2.0f;
  p.frequency_penalty = 2.0f;
  p.penalty_last_n = -1;
  EXPECT_TRUE(ValidateSamplingParams(p).ok());
}

TEST(SamplingParams, OutOfRangeValuesNameTheParameter) {
  const float nan = std::nanf("");
  const float inf = INFINITY;
  struct Case {
    std::function<void(SamplingParams&)> set;
    const char* expected;
  };
  const Case cases[] = {
      {[](SamplingParams& p) { p.temperature = -1; }, "temperature -1 is invalid"},
      {[&](SamplingParams& p) { p.temperature = nan; }, "temperature NaN is invalid"},
      {[&](SamplingParams& p) { p.temperature = inf; }, "temperature inf is invalid"},
      {[](SamplingParams& p) { p.top_k = -5; }, "top_k -5 is invalid"},
      {[](SamplingParams& p) { p.top_p = 2; }, "top_p 2 is invalid: it must be between 0 and 1"},
      {[&](SamplingParams& p) { p.top_p = nan; }, "top_p NaN is invalid"},
      {[](SamplingParams& p) { p.min_p = -0.5f; }, "min_p -0.5 is invalid"},
      {[](SamplingParams& p) { p.repetition_penalty = 0; }, "repetition_penalty 0 is invalid"},
      {[](SamplingParams& p) { p.presence_penalty = 3; }, "presence_penalty 3 is invalid"},
      {[&](SamplingParams& p) { p.frequency_penalty = nan; }, "frequency_penalty NaN is invalid"},
      {[](SamplingParams& p) { p.penalty_last_n = -2; }, "penalty_last_n -2 is invalid"},
  };
  for (const Case& c : cases) {
    SamplingParams p;
    c.set(p);
    const Status status = ValidateSamplingParams(p);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << c.expected;
    EXPECT_NE(status.message().find(c.expected), std::string::npos) << status.message();
  }
}

// Generation refuses invalid parameters before anything reaches the context.
TEST(SamplingParams, ChatAndCompleteRefuseBeforePrefill) {
  auto model = Model::Open(Gguf("gemma3_qknorm", "q8_0"));
  ASSERT_TRUE(model.ok()) << model.status().message();
  GenerateOptions options;
  options.sampling.top_p = 2;
  Chat chat(**model);
  EXPECT_FALSE(chat.Send("hello", options, nullptr).ok());
  EXPECT_EQ(chat.session().position(), 0);
  EXPECT_TRUE(chat.history().empty());
  EXPECT_FALSE(Complete(**model, "hello", options, nullptr).ok());
}

TEST(MaxTokens, MinusOneMeansTheRoomLeft) {
  EXPECT_EQ(MaxNewTokens(-1, 100), 100);
  EXPECT_EQ(MaxNewTokens(-1, 0), 0);
  EXPECT_EQ(MaxNewTokens(5, 100), 5);
  EXPECT_EQ(MaxNewTokens(0, 100), 0);
}

// -n -1 generates until the context is full, then stops without an error:
// with room for 10 tokens after the golden prompt, greedy decoding gives
// the reference's first 10 greedy tokens (none of which ends the text).
TEST(MaxTokens, MinusOneFillsTheContextAndStops) {
  const nlohmann::json c = testing::LoadCaseJson("gemma3_qknorm");
  const std::vector<int32_t> prompt = c["prompt"]["ids"].get<std::vector<int32_t>>();
  const std::vector<int32_t> greedy = c["greedy"]["ids"].get<std::vector<int32_t>>();
  ModelOptions options;
  options.exact = true;
  options.kv_cache_type = "f32";
  options.context_length = static_cast<int>(prompt.size()) + 10;
  auto model = Model::Open(Gguf("gemma3_qknorm", "f32"), options);
  ASSERT_TRUE(model.ok()) << model.status().message();
  ASSERT_EQ((*model)->Tokenize(c["prompt"]["text"].get<std::string>(), true), prompt);
  GenerateOptions generate;
  generate.sampling.temperature = 0;
  generate.max_tokens = -1;
  auto answer = Complete(**model, c["prompt"]["text"].get<std::string>(), generate, nullptr);
  ASSERT_TRUE(answer.ok()) << answer.status().message();
  EXPECT_EQ(answer.value(),
            (*model)->Detokenize(std::vector<int32_t>(greedy.begin(), greedy.begin() + 10)));
  // An explicit count past the room left is still an error.
  generate.max_tokens = 11;
  EXPECT_FALSE(Complete(**model, c["prompt"]["text"].get<std::string>(), generate, nullptr).ok());
}

TEST(Threads, CappedAtTheUsableCpusWithAWarning) {
  const int cpus = UsableCpuCount();
  EXPECT_GE(cpus, 1);
  EXPECT_LE(cpus, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  EXPECT_EQ(ChooseThreadCount(0).threads, cpus);
  EXPECT_TRUE(ChooseThreadCount(0).warning.empty());
  EXPECT_EQ(ChooseThreadCount(1).threads, 1);
  const ThreadChoice many = ChooseThreadCount(1000);
  EXPECT_EQ(many.threads, cpus);
  EXPECT_NE(many.warning.find("1000 threads requested; using " + std::to_string(cpus)),
            std::string::npos)
      << many.warning;

  // Through the API: the model reports what it uses and why.
  ModelOptions options;
  options.threads = 1000;
  const auto start = std::chrono::steady_clock::now();
  auto model = Model::Open(Gguf("gemma3_qknorm", "q8_0"), options);
  ASSERT_TRUE(model.ok()) << model.status().message();
  EXPECT_EQ((*model)->info().threads, cpus);
  ASSERT_EQ((*model)->info().warnings.size(), 1u);
  GenerateOptions generate;
  generate.max_tokens = 8;
  EXPECT_TRUE(Complete(**model, "hello", generate, nullptr).ok());
  // 1000 spinning threads took minutes for this; capped, it is instant.
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 30);
}

TEST(Quantize, QuantizedInputNeedsAllowRequantize) {
  const std::string out = TempPath("gemma_requant") + ".gguf";
  Status status = QuantizeModel(Gguf("gemma3_qknorm", "q4_0"), out, "q8_0", 2, {});
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("already quantized"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("--allow-requantize"), std::string::npos) << status.message();
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));
  // Widening to a float type loses nothing: allowed.
  status = QuantizeModel(Gguf("gemma3_qknorm", "q4_0"), out, "f16", 2, {});
  EXPECT_TRUE(status.ok()) << status.message();
  status = QuantizeModel(Gguf("gemma3_qknorm", "q4_0"), out, "q8_0", 2, {}, true);
  EXPECT_TRUE(status.ok()) << status.message();
  EXPECT_TRUE(Model::Open(out).ok());
  fs::remove(out);
}

}  // namespace
}  // namespace gemma
