// The `gemma` program's handling of what users type: flag values checked
// with their allowed values in words, prompts from files and stdin, paths
// that are FIFOs or symlink loops (refused, not hung on), and what `info`
// reports.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "testing/cli_runner.h"
#include "testing/golden_case.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;
using testing::RunCli;

const std::string kTiny = testing::TinyModel();

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("gemma_cli_input_" + std::to_string(::getpid()) + "_" +
                                         std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(CliFlags, OutOfRangeValuesAreRefusedInWords) {
  const std::pair<std::string, std::string> cases[] = {
      {"--temp -1", "--temp: -1 is not allowed: use 0 (greedy) or more"},
      {"--temp nan", "--temp: nan is not allowed"},
      {"--top-p 2", "--top-p: 2 is not allowed: use a probability from 0 to 1"},
      {"--min-p -0.1", "--min-p: -0.1 is not allowed"},
      {"--repeat-penalty 0", "--repeat-penalty: 0 is not allowed: use a number above 0"},
      {"--presence-penalty 5", "--presence-penalty: 5 is not allowed: use a number from -2 to 2"},
      {"--top-k -3", "--top-k: -3 is not allowed: use 0 (off) or a number of tokens"},
      {"-n -2", "-2 is not allowed: use -1 (until the end of the turn or the context)"},
      {"--ctx -1", "--ctx: -1 is not allowed: use 0 (the model's limit, at most 8192)"},
      {"-t -4", "--threads: -4 is not allowed: use 0 (one per CPU) or a number of threads"},
      {"-b 0", "--batch-size: 0 is not allowed: use 1 to 8192 tokens"},
      {"--kv-type bf17", "--kv-type: bf17 not in {auto,bf16,f16,f32,q8_0,q4_0}"},
  };
  const std::regex long_number("[0-9]{20,}");
  for (const auto& [flags, expected] : cases) {
    const auto out = RunCli("run -m " + kTiny + " -p hi " + flags);
    EXPECT_NE(out.exit_code, 0) << flags;
    EXPECT_TRUE(Contains(out.text, expected)) << flags << ":\n" << out.text;
    EXPECT_FALSE(std::regex_search(out.text, long_number)) << out.text;
  }
}

TEST(CliFlags, EnumValuesInAnyCase) {
  auto out = RunCli("info --json --no-tensors -m " + kTiny + " --kv-type BF16");
  ASSERT_EQ(out.exit_code, 0) << out.text;
  EXPECT_EQ(nlohmann::json::parse(out.text)["kv_cache_type"], "bf16");
  out = RunCli("info --json --no-tensors -m " + kTiny + " --kv-type Q8_0");
  ASSERT_EQ(out.exit_code, 0) << out.text;
  EXPECT_EQ(nlohmann::json::parse(out.text)["kv_cache_type"], "q8_0");
}

// -t 1000 used to start 1000 spinning threads on a 2-core machine.
TEST(CliFlags, AbsurdThreadCountIsCappedWithAWarning) {
  const auto start = std::chrono::steady_clock::now();
  const auto out =
      RunCli("run -m " + kTiny + " -p hi -n 8 -t 1000", "", /*separate_stderr=*/true, 60);
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_TRUE(Contains(out.err, "warning: 1000 threads requested; using ")) << out.err;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 30);
}

TEST(CliRun, PromptFromFileStdinOrFlagGivesTheSameAnswer) {
  TempDir dir;
  std::ofstream(dir / "prompt.txt") << "Tell me a story";
  const std::string common = "run -m " + kTiny + " -n 12 --temp 1 --seed 3 ";
  const auto from_flag = RunCli(common + "-p 'Tell me a story'", "", true);
  const auto from_file = RunCli(common + "-f " + dir / "prompt.txt", "", true);
  const auto from_stdin = RunCli(common + "-p -", "Tell me a story", true);
  ASSERT_EQ(from_flag.exit_code, 0) << from_flag.err;
  EXPECT_FALSE(from_flag.text.empty());
  EXPECT_EQ(from_file.text, from_flag.text) << from_file.err;
  EXPECT_EQ(from_stdin.text, from_flag.text) << from_stdin.err;
  // One source only, and one is needed.
  auto out = RunCli(common + "-p hi -f " + dir / "prompt.txt");
  EXPECT_NE(out.exit_code, 0);
  out = RunCli(common);
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_TRUE(Contains(out.text, "give the prompt with -p TEXT, -p - (stdin) or -f FILE"));
  out = RunCli(common + "-f " + dir / "missing.txt");
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_TRUE(Contains(out.text, "missing.txt: no such prompt file")) << out.text;
}

// Without --seed every run draws a new seed; --verbose prints it, and
// passing it back reproduces the answer.
TEST(CliRun, RandomSeedByDefaultPrintedWithVerbose) {
  const std::string common = "run -m " + kTiny + " -p 'Tell me a story' -n 12 --temp 1 ";
  const auto a = RunCli(common + "--verbose", "", true);
  const auto b = RunCli(common + "--verbose", "", true);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  std::smatch ma, mb;
  const std::regex seed("seed: ([0-9]+)");
  ASSERT_TRUE(std::regex_search(a.err, ma, seed)) << a.err;
  ASSERT_TRUE(std::regex_search(b.err, mb, seed)) << b.err;
  EXPECT_NE(ma[1].str(), mb[1].str());
  const auto again = RunCli(common + "--seed " + ma[1].str(), "", true);
  EXPECT_EQ(again.text, a.text);
}

TEST(CliRun, TimingAndVerboseReport) {
  const auto out = RunCli("run -m " + kTiny + " -p hi -n 6 --temp 0 --verbose", "", true);
  ASSERT_EQ(out.exit_code, 0) << out.err;
  EXPECT_TRUE(std::regex_search(
      out.err, std::regex(R"(\[prompt: [0-9]+ tokens, [0-9.]+ tokens/s; answer: [0-9]+ tokens)")))
      << out.err;
  EXPECT_TRUE(Contains(out.err, "loaded tiny-gemma3.gguf (gemma3, 6 layers)")) << out.err;
  EXPECT_TRUE(Contains(out.err, "peak RSS")) << out.err;
}

// The rendered prompt: Gemma's turn markers around the user's text.
TEST(CliRun, VerbosePromptShowsTheRenderedPrompt) {
  const auto out = RunCli("run -m " + kTiny + " -p 'Hello there' -n 1 --verbose-prompt", "", true);
  ASSERT_EQ(out.exit_code, 0) << out.err;
  EXPECT_TRUE(Contains(
      out.err, "<bos><start_of_turn>user\nHello there<end_of_turn>\n<start_of_turn>model\n"))
      << out.err;
  const auto raw =
      RunCli("run --raw -m " + kTiny + " -p 'Hello there' -n 1 --verbose-prompt", "", true);
  EXPECT_TRUE(Contains(raw.err, "--- prompt (")) << raw.err;
  EXPECT_TRUE(Contains(raw.err, "<bos>Hello there\n--- ids: 2 ")) << raw.err;
}

// -n -1: until the end of the turn or of the context, without an error.
TEST(CliRun, MinusOneGeneratesUntilTheEnd) {
  const auto out =
      RunCli("run --raw -m " + kTiny + " -p hi -n -1 --ctx 48 --temp 0 --verbose", "", true);
  ASSERT_EQ(out.exit_code, 0) << out.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out.err, m, std::regex("context ([0-9]+) of 48 tokens")))
      << out.err;
  EXPECT_GT(std::stoi(m[1].str()), 2);
}

TEST(CliPerplexity, RefusesAContextTooSmallToScore) {
  const std::string text = std::string(GEMMA_REPO_DIR) + "/README.md";
  for (const char* ctx : {"1", "2"}) {
    const auto out = RunCli("perplexity -m " + kTiny + " -f " + text + " --ctx " + ctx);
    EXPECT_EQ(out.exit_code, 1) << out.text;
    EXPECT_TRUE(Contains(out.text, "too small to score anything")) << out.text;
    EXPECT_FALSE(Contains(out.text, "nan")) << out.text;
  }
  const auto out = RunCli("perplexity -m " + kTiny + " -f " + text + " --ctx 3 --chunks 2");
  EXPECT_EQ(out.exit_code, 0) << out.text;
  EXPECT_TRUE(Contains(out.text, "over 2 tokens (2 chunks of 3)")) << out.text;
}

TEST(CliQuantize, QuantizedInputNeedsAllowRequantize) {
  TempDir dir;
  const std::string in = testing::GoldenDir("gemma3_qknorm") + "/gguf/gemma3_qknorm.q4_0.gguf";
  auto out = RunCli("quantize " + in + " " + dir / "out.gguf" + " Q8_0");
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_TRUE(Contains(out.text, "already quantized")) << out.text;
  EXPECT_TRUE(Contains(out.text, "--allow-requantize")) << out.text;
  EXPECT_FALSE(fs::exists(dir / "out.gguf"));
  out = RunCli("quantize --allow-requantize " + in + " " + dir / "out.gguf" + " Q8_0");
  EXPECT_EQ(out.exit_code, 0) << out.text;
  EXPECT_TRUE(fs::exists(dir / "out.gguf"));
}

// info: the tokenizer, special and stop tokens, and the chat template of an
// HF folder -- kept by `quantize`, so the GGUF reports the same template.
TEST(CliInfo, TokenizerSpecialTokensAndChatTemplate) {
  TempDir dir;
  const std::string hf = testing::GoldenDir("gemma3_qknorm") + "/hf";
  fs::create_directories(dir / "hf");
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model"}) {
    fs::copy_file(hf + "/" + f, dir / ("hf/" + std::string(f)));
  }
  const std::string chat_template =
      "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}";
  std::ofstream(dir / "hf/tokenizer_config.json")
      << nlohmann::json{{"bos_token", "<bos>"}, {"chat_template", chat_template}}.dump();
  auto out = RunCli("info --json --no-tensors -m " + dir / "hf");
  ASSERT_EQ(out.exit_code, 0) << out.text;
  nlohmann::json info = nlohmann::json::parse(out.text);
  EXPECT_EQ(info["tokenizer"], dir / "hf/tokenizer.model");
  EXPECT_EQ(info["bos"]["piece"], "<bos>");
  EXPECT_EQ(info["bos"]["id"], 2);
  EXPECT_EQ(info["eos"]["piece"], "<eos>");
  EXPECT_EQ(info["eos"]["id"], 1);
  ASSERT_EQ(info["stop_pieces"].size(), 2u);
  EXPECT_EQ(info["stop_pieces"][1], "<end_of_turn>");
  EXPECT_EQ(info["chat_format"], "gemma");
  EXPECT_EQ(info["chat_template"], chat_template);
  EXPECT_TRUE(Contains(info["chat_template_origin"], "tokenizer_config.json"));

  out = RunCli("quantize " + dir / "hf" + " " + dir / "model.gguf" + " f32");
  ASSERT_EQ(out.exit_code, 0) << out.text;
  out = RunCli("info --json --no-tensors -m " + dir / "model.gguf");
  ASSERT_EQ(out.exit_code, 0) << out.text;
  info = nlohmann::json::parse(out.text);
  EXPECT_EQ(info["chat_template"], chat_template);
  EXPECT_EQ(info["tokenizer"], dir / "model.gguf" + " (GGUF metadata)");
  out = RunCli("info --no-tensors --template -m " + dir / "model.gguf");
  EXPECT_TRUE(Contains(out.text, "special:       BOS 2 <bos>, EOS 1 <eos>")) << out.text;
  EXPECT_TRUE(Contains(out.text, chat_template)) << out.text;
}

// Resident memory as info reports it, against what a short run peaks at,
// the program's own memory (measured before the load) added: a short run
// writes only the first blocks of the KV cache, so its peak lies between the
// estimate without the KV cache and with all of it -- within 10% of each.
TEST(CliInfo, ResidentBytesBracketARunsPeak) {
  for (const char* name : {"gemma3_h256", "gemma2_swa"}) {
    const std::string model =
        testing::GoldenDir(name) + "/gguf/" + std::string(name) + ".q8_0.gguf";
    const auto info_out = RunCli("info --json --no-tensors -m " + model);
    ASSERT_EQ(info_out.exit_code, 0) << info_out.text;
    const nlohmann::json info = nlohmann::json::parse(info_out.text);
    const auto run = RunCli("run -m " + model + " -p hi -n 8 --verbose", "", true);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(run.err, m, std::regex(R"(peak RSS ([0-9.]+) MiB)"))) << run.err;
    const double peak = std::stod(m[1].str()) * 1048576.0;
    ASSERT_TRUE(std::regex_search(run.err, m, std::regex(R"(program ([0-9.]+) MiB before)")))
        << run.err;
    const double program = std::stod(m[1].str()) * 1048576.0;
    const double full = info["resident_bytes"].get<double>() + program;
    const double empty_kv = full - info["kv_cache_bytes"].get<double>();
    EXPECT_LE(peak, full * 1.10) << name << ": peak " << peak << ", info " << full;
    EXPECT_GE(peak, empty_kv * 0.90)
        << name << ": peak " << peak << ", info without KV " << empty_kv;
  }
}

// Paths that are not regular files are refused before anything opens them
// (timeout-guarded: a FIFO used to block forever).
TEST(CliPaths, FifosLoopsAndLongNamesAreErrors) {
  TempDir dir;
  const std::string fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string loop = dir / "loop";
  fs::create_symlink(loop, loop);
  const std::string long_name = "/tmp/" + std::string(300, 'x');
  const std::pair<std::string, std::string> cases[] = {
      {"info -m " + fifo, "is a FIFO"},
      {"info -m " + loop, "Too many levels of symbolic links"},
      {"info -m " + long_name, "File name too long"},
      {"info -m " + kTiny + " --tokenizer " + fifo, "is a FIFO"},
      {"info -m " + kTiny + " --tokenizer " + loop, "Too many levels of symbolic links"},
      {"chat -m " + kTiny + " --session " + fifo, "is a FIFO, not a session file"},
      {"chat -m " + kTiny + " --session " + loop, "Too many levels of symbolic links"},
      {"chat -m " + kTiny + " --session " + long_name, "File name too long"},
      {"run -m " + kTiny + " -f " + fifo, "is a FIFO, not a prompt file"},
      {"perplexity -m " + kTiny + " -f " + fifo, "is a FIFO, not a text file"},
      {"perplexity -m " + kTiny + " -f " + std::string(GEMMA_REPO_DIR) + "/README.md --kl-base " +
           loop,
       "Too many levels of symbolic links"},
      {"tokenize -m " + fifo + " -p hi", "is a FIFO"},
      {"quantize " + fifo + " " + dir / "out.gguf q8_0", "is a FIFO"},
  };
  for (const auto& [args, expected] : cases) {
    const auto out = RunCli(args, "", false, 20);
    EXPECT_EQ(out.exit_code, 1) << args << "\n" << out.text;
    EXPECT_TRUE(Contains(out.text, expected)) << args << "\n" << out.text;
  }
}

}  // namespace
}  // namespace gemma
