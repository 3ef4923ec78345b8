// The `gemma` program, run as a user would: exit codes, output formats, and
// agreement of `gemma logits --greedy` with the golden reference.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "testing/cli_runner.h"
#include "testing/golden_case.h"

namespace gemma {
namespace {

using Output = testing::CliOutput;
using testing::RunCli;

std::string LastLine(const std::string& text) {
  std::string s = text;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  const size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

const std::string kTinyModel = testing::TinyModel();

TEST(Cli, LogitsAndGreedyMatchReference) {
  const nlohmann::json c = testing::LoadCaseJson("gemma2_swa");
  std::string tokens;
  for (int id : c["prompt"]["ids"]) {
    if (!tokens.empty()) tokens += ",";
    tokens += std::to_string(id);
  }
  const std::string out_file =
      (std::filesystem::temp_directory_path() / ("gemma_cli_logits_" + std::to_string(::getpid())))
          .string();
  const Output out =
      RunCli("logits -m " + testing::GoldenDir("gemma2_swa") + "/hf --tokens " + tokens +
             " --out " + out_file + " --greedy 24 -t 2 --kv-type f32 --exact");
  ASSERT_EQ(out.exit_code, 0) << out.text;
  std::string expected_ids;
  for (int id : c["greedy"]["ids"]) {
    if (!expected_ids.empty()) expected_ids += " ";
    expected_ids += std::to_string(id);
  }
  EXPECT_EQ(LastLine(out.text), expected_ids);
  const std::vector<float> ours = testing::LoadF32(out_file);
  const std::vector<float> expected =
      testing::LoadF32(testing::GoldenDir("gemma2_swa") + "/logits/expected_prompt_logits.f32.bin");
  const testing::LogitComparison cmp = testing::CompareLogits(ours, expected, 512);
  EXPECT_LE(cmp.max_rel, c["suggested_tolerances"]["f32_compute"]["max_rel_diff"].get<double>());
  std::filesystem::remove(out_file);
}

// --compare-hidden holds the residual stream against a reference's stage by
// stage and points at the first layer where they part; --dump-stages writes
// every intermediate with an index.
TEST(Cli, CompareHiddenFindsTheLayerWhereTheRunsPart) {
  const std::string dir = testing::GoldenDir("gemma1_mqa");
  const nlohmann::json c = testing::LoadCaseJson("gemma1_mqa");
  std::string tokens;
  for (int id : c["prompt"]["ids"]) {
    if (!tokens.empty()) tokens += ",";
    tokens += std::to_string(id);
  }
  const std::filesystem::path tmp =
      std::filesystem::temp_directory_path() / ("gemma_cli_stages_" + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);
  const std::string reference = dir + "/logits/expected_prompt_hidden_states.f32.bin";
  const std::string run = "logits -m " + dir + "/hf --exact --kv-type f32 -t 2 --tokens " + tokens +
                          " --out " + (tmp / "logits.bin").string();
  Output out = RunCli(run + " --compare-hidden " + reference + " --dump-stages " +
                      (tmp / "stages").string());
  ASSERT_EQ(out.exit_code, 0) << run << "\n" << out.text;
  EXPECT_NE(out.text.find("layer 3 output"), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("final norm"), std::string::npos) << out.text;
  EXPECT_EQ(out.text.find("<- first above"), std::string::npos) << out.text;
  std::ifstream index_file(tmp / "stages" / "stages.json");
  const nlohmann::json index = nlohmann::json::parse(index_file);
  bool found = false;
  for (const nlohmann::json& stage : index) {
    if (stage["stage"] == "layer_out" && stage["layer"] == 3) {
      found = true;
      EXPECT_EQ(stage["shape"], nlohmann::json({54, 64}));
      EXPECT_EQ(std::filesystem::file_size(tmp / "stages" / stage["file"].get<std::string>()),
                54u * 64 * 4);
    }
  }
  EXPECT_TRUE(found) << index.dump();

  // A reference that parts from ours after layer 2 (stages 0-5: the
  // embedding, layers 0-3, the final norm) is caught there.
  std::vector<float> parted = testing::LoadF32(reference);
  const size_t stage = 54 * 64;
  ASSERT_EQ(parted.size(), 6 * stage);
  for (size_t i = 3 * stage; i < parted.size(); ++i) parted[i] += 0.5f;
  const std::string parted_file = (tmp / "parted.f32").string();
  std::ofstream(parted_file, std::ios::binary)
      .write(reinterpret_cast<const char*>(parted.data()),
             static_cast<std::streamsize>(parted.size() * 4));
  out = RunCli(run + " --compare-hidden " + parted_file);
  EXPECT_EQ(out.exit_code, 2) << out.text;
  const size_t marker = out.text.find("<- first above");
  ASSERT_NE(marker, std::string::npos) << out.text;
  EXPECT_EQ(out.text.rfind("layer 2 output", marker), out.text.rfind('\n', marker) + 1) << out.text;

  // A file of the wrong size is an error that says what was expected.
  std::ofstream(parted_file, std::ios::binary | std::ios::trunc).write("abcdefgh", 8);
  out = RunCli(run + " --compare-hidden " + parted_file, "", /*separate_stderr=*/true);
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.err.find("expected [5 or 6, 54, 64]"), std::string::npos) << out.err;
  std::filesystem::remove_all(tmp);
}

TEST(Cli, InfoJson) {
  const Output out = RunCli("info --json -m " + kTinyModel);
  ASSERT_EQ(out.exit_code, 0) << out.text;
  const nlohmann::json info = nlohmann::json::parse(out.text);
  EXPECT_EQ(info["architecture"], "gemma3");
  EXPECT_EQ(info["num_layers"], 6);
  EXPECT_EQ(info["global_layers"], nlohmann::json::array({5}));
  EXPECT_EQ(info["sliding_window"], 16);
  EXPECT_GT(info["weights_bytes"].get<size_t>(), 300000u);
  EXPECT_GT(info["kv_cache_bytes"].get<size_t>(), 0u);
  EXPECT_EQ(info["tensors"].size(), 80u);  // 37 norms + 43 matrices (golden table)
}

// --simd caps the code path: the portable scalar target has no packed
// kernels, so nothing is repacked; an unknown target is an error that lists
// the ones there are.
TEST(Cli, SimdTargetCanBeCapped) {
  Output out = RunCli("info --json --simd scalar -m " + kTinyModel);
  ASSERT_EQ(out.exit_code, 0) << out.text;
  nlohmann::json info = nlohmann::json::parse(out.text);
  EXPECT_EQ(info["simd"], "SCALAR");
  EXPECT_EQ(info["packed_bytes"], 0);
  out = RunCli("info --json -m " + kTinyModel);
  ASSERT_EQ(out.exit_code, 0) << out.text;
  info = nlohmann::json::parse(out.text);
  // Uncapped unless the whole suite runs capped (GEMMA_SIMD=SCALAR ctest).
  const char* suite_cap = std::getenv("GEMMA_SIMD");
  if (suite_cap == nullptr || std::string(suite_cap) != "SCALAR") {
    EXPECT_NE(info["simd"], "SCALAR");
  }
  // "simd" is what dispatch runs (a dispatched function reports it): under
  // Highway 1.0 a re-detection of the CPU after the cap used to point
  // dispatch back at AVX-512 while the name said AVX2.
  if (info["simd"] == "AVX3_DL") {
    out = RunCli("info --json --simd avx2 -m " + kTinyModel);
    ASSERT_EQ(out.exit_code, 0) << out.text;
    info = nlohmann::json::parse(out.text);
    EXPECT_EQ(info["simd"], "AVX2");
    EXPECT_GT(info["packed_bytes"], 0);
  }
  out = RunCli("info --simd sse9 -m " + kTinyModel);
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.text.find("SIMD target 'sse9' is not one this CPU and build run (AVX"),
            std::string::npos)
      << out.text;
}

TEST(Cli, InfoText) {
  const Output out = RunCli("info -m " + testing::GoldenDir("gemma1_mqa") + "/hf");
  ASSERT_EQ(out.exit_code, 0) << out.text;
  EXPECT_NE(out.text.find("architecture:  gemma"), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("model.layers.0.self_attn.q_proj.weight"), std::string::npos);
}

TEST(Cli, TokenizeJsonl) {
  const nlohmann::json c = testing::LoadCaseJson("gemma1_mqa");
  const std::string text = c["prompt"]["text"];
  const Output out = RunCli(
      "tokenize --jsonl --bos -m " + testing::GoldenDir("gemma1_mqa") + "/hf/tokenizer.model",
      nlohmann::json{{"text", text}}.dump() + "\n");
  ASSERT_EQ(out.exit_code, 0) << out.text;
  const nlohmann::json line = nlohmann::json::parse(LastLine(out.text));
  EXPECT_EQ(line["ids"], c["prompt"]["ids"]);
}

TEST(Cli, RunIsReproducibleWithASeed) {
  const std::string args = "run -m " + kTinyModel + " -p 'Tell me a story' -n 12 --temp 1 --seed 7";
  // stdout only: the timing line on stderr differs from run to run.
  const Output a = RunCli(args, "", /*separate_stderr=*/true);
  const Output b = RunCli(args, "", /*separate_stderr=*/true);
  ASSERT_EQ(a.exit_code, 0) << a.text;
  EXPECT_EQ(a.text, b.text);
  EXPECT_FALSE(a.text.empty());
}

TEST(Cli, ChatReadsTurnsFromStdin) {
  const Output out =
      RunCli("chat -m " + kTinyModel + " -n 4 --temp 0", "hello\n/reset\nagain\n/exit\n");
  EXPECT_EQ(out.exit_code, 0) << out.text;
  EXPECT_NE(out.text.find("(conversation cleared)"), std::string::npos) << out.text;
}

TEST(Cli, ErrorsAreMessagesNotCrashes) {
  Output out = RunCli("run -m /nonexistent.gguf -p hi");
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.text.find("error: /nonexistent.gguf: no such file"), std::string::npos) << out.text;
  out = RunCli("logits -m " + kTinyModel + " --tokens 1,x --out /dev/null");
  EXPECT_EQ(out.exit_code, 1);
  out = RunCli("logits -m " + kTinyModel + " --tokens 2,99999 --out /dev/null");
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.text.find("outside the vocabulary"), std::string::npos) << out.text;
  out = RunCli("run -m " + kTinyModel + " -p hi --ctx 4");
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.text.find("context full"), std::string::npos) << out.text;
  out = RunCli("frobnicate");
  EXPECT_NE(out.exit_code, 0);
}

}  // namespace
}  // namespace gemma

namespace gemma {
namespace {

TEST(Cli, BenchJsonHasLlamaBenchFields) {
  const Output out = RunCli("bench --json -m " + kTinyModel + " -p 16 -n 4 -t 1,2 -r 2 -d 0,8");
  ASSERT_EQ(out.exit_code, 0) << out.text;
  const nlohmann::json j = nlohmann::json::parse(out.text.substr(out.text.find('[')));
  ASSERT_EQ(j.size(), 8u);  // {pp16, tg4} x {1, 2 threads} x {depth 0, 8}
  for (const auto& r : j) {
    for (const char* field : {"n_prompt", "n_gen", "n_threads", "n_depth", "avg_ts", "stddev_ts",
                              "type_k", "model_type"}) {
      EXPECT_TRUE(r.contains(field)) << field;
    }
    EXPECT_GT(r["avg_ts"].get<double>(), 0.0);
    EXPECT_EQ(r["samples_ts"].size(), 2u);
  }
  EXPECT_EQ(j[0]["type_k"], "f16");  // the default KV type, as llama-bench reports it
}

TEST(Cli, PerplexityAndKlBase) {
  const std::string text = std::string(GEMMA_REPO_DIR) + "/README.md";
  const std::string base =
      (std::filesystem::temp_directory_path() / ("gemma_kl_base_" + std::to_string(::getpid())))
          .string();
  std::filesystem::remove(base);
  const std::string common =
      "perplexity -m " + kTinyModel + " -f " + text + " --ctx 64 --chunks 3 ";
  Output out = RunCli(common + "--kv-type f32 --kl-base " + base);
  ASSERT_EQ(out.exit_code, 0) << out.text;
  EXPECT_NE(out.text.find("saved the distributions"), std::string::npos) << out.text;
  // The same model and cache against itself: KL ~ 0 (f16 storage of the base
  // costs ~1e-4 relative in log-probabilities), every top-1 equal.
  out = RunCli(common + "--kv-type f32 --kl-base " + base);
  ASSERT_EQ(out.exit_code, 0) << out.text;
  double kl = -1, top1 = -1;
  std::sscanf(out.text.substr(out.text.find("mean ")).c_str(), "mean %lf nats; top-1 agreement %lf",
              &kl, &top1);
  EXPECT_LT(kl, 1e-3) << out.text;
  EXPECT_EQ(top1, 1.0) << out.text;
  // A q4_0 cache measurably moves the distributions.
  out = RunCli(common + "--kv-type q4_0 --kl-base " + base);
  ASSERT_EQ(out.exit_code, 0) << out.text;
  std::sscanf(out.text.substr(out.text.find("mean ")).c_str(), "mean %lf nats; top-1 agreement %lf",
              &kl, &top1);
  EXPECT_GT(kl, 1e-3) << out.text;
  // A different --ctx is refused, not silently compared.
  out = RunCli("perplexity -m " + kTinyModel + " -f " + text + " --ctx 32 --chunks 3 --kl-base " +
               base);
  EXPECT_EQ(out.exit_code, 1);
  std::filesystem::remove(base);
}

TEST(Cli, InfoReportsCacheForContext) {
  const Output small = RunCli("info --json --no-tensors -m " + kTinyModel + " --ctx 64");
  const Output large = RunCli("info --json --no-tensors -m " + kTinyModel + " --ctx 1024");
  ASSERT_EQ(small.exit_code, 0) << small.text;
  const auto a = nlohmann::json::parse(small.text), b = nlohmann::json::parse(large.text);
  // Blocks of 64 positions. The one global layer of 6 grows with the context
  // (plus one block of slack for the partly filled last one); the 5 sliding
  // layers keep the blocks a 256-token step at the end of the 16-token window
  // can touch, (16 + 256 - 2) / 64 + 2 = 6, or the context's blocks + 1 if fewer.
  const size_t per_position = 2 * 2 * 32 * 2;  // K+V, 2 kv heads, head_dim 32, f16 (auto for q8_0)
  EXPECT_EQ(a["kv_cache_bytes"].get<size_t>(), per_position * 64 * (2 + 5 * 2));
  EXPECT_EQ(b["kv_cache_bytes"].get<size_t>(), per_position * 64 * (17 + 5 * 6));
}

}  // namespace
}  // namespace gemma
