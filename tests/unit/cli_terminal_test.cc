// `gemma chat` in a terminal: Ctrl-C stops an answer and a second Ctrl-C at
// the prompt leaves; multi-line messages; /commands; history kept across
// runs; the default model found next to an installed program.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "testing/cli_runner.h"
#include "testing/golden_case.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;
using testing::PtySession;
using testing::RunCli;

const std::string kTiny = testing::TinyModel();

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("gemma_cli_term_" + std::to_string(::getpid()) + "_" +
                                         std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The 46-layer golden model's greedy answer to "Tell me a story" runs to the
// end of the 1024-token context (1000 tokens, ~0.35 s in a Release build), so
// a Ctrl-C sent as its first text arrives lands inside it. ("Tell me
// everything" ends after 46 tokens, 16 ms: the Ctrl-C then came too late on a
// loaded machine.)
std::vector<std::string> SlowChat() {
  return {"chat", "-m",     testing::GoldenDir("gemma2_swa") + "/gguf/gemma2_swa.q8_0.gguf",
          "-n",   "-1",     "--ctx",
          "1024", "--temp", "0"};
}

TEST(CliTerminal, CtrlCStopsTheAnswerAndASecondOneAtThePromptLeaves) {
  TempDir state;
  PtySession chat(SlowChat(), {"XDG_STATE_HOME=" + state.str()});
  ASSERT_TRUE(chat.Expect("/bye leaves.")) << chat.output();
  ASSERT_TRUE(chat.Expect("> ")) << chat.output();
  chat.Send("Tell me a story\r");
  ASSERT_TRUE(chat.Expect("Tell me a story\n")) << chat.output();
  ASSERT_TRUE(chat.ExpectMore()) << chat.output();  // the answer has begun
  chat.Send("\x03", /*settle=*/false);
  ASSERT_TRUE(chat.Expect("(stopped)", 60)) << chat.output();
  // The timing line follows on stderr, which may reach the terminal later.
  ASSERT_TRUE(chat.Expect("stopped]", 60)) << chat.output();
  std::smatch m;
  const std::string tail = chat.output();
  ASSERT_TRUE(std::regex_search(
      tail, m, std::regex(R"(answer: ([0-9]+) tokens, [0-9.]+ tokens/s; stopped\])")))
      << tail;
  EXPECT_LT(std::stoi(m[1].str()), 1000) << "the answer ran to its end";
  // Still alive: the conversation goes on.
  ASSERT_TRUE(chat.Expect("> ")) << chat.output();
  chat.Send("\x03");
  EXPECT_EQ(chat.Wait(), 0) << chat.output();
}

TEST(CliTerminal, OneCtrlCAtThePromptOnlyWarns) {
  TempDir state;
  PtySession chat({"chat", "-m", kTiny, "-n", "4"}, {"XDG_STATE_HOME=" + state.str()});
  ASSERT_TRUE(chat.Expect("> ")) << chat.output();
  chat.Send("\x03");
  ASSERT_TRUE(chat.Expect("(Ctrl-C again, Ctrl-D or /bye to leave)")) << chat.output();
  ASSERT_TRUE(chat.Expect("> ")) << chat.output();
  chat.Send("hello\r");
  ASSERT_TRUE(chat.Expect("[prompt: ")) << chat.output();  // a turn resets the count
  ASSERT_TRUE(chat.Expect("> ")) << chat.output();
  chat.Send("\x03");
  ASSERT_TRUE(chat.Expect("(Ctrl-C again")) << chat.output();
  chat.Send("/bye\r");
  EXPECT_EQ(chat.Wait(), 0) << chat.output();
}

TEST(CliTerminal, HistoryIsKeptAcrossRuns) {
  TempDir state;
  {
    PtySession chat({"chat", "-m", kTiny, "-n", "2"}, {"XDG_STATE_HOME=" + state.str()});
    ASSERT_TRUE(chat.Expect("> ")) << chat.output();
    chat.Send("remember this line\r");
    ASSERT_TRUE(chat.Expect("[prompt: ")) << chat.output();
    ASSERT_TRUE(chat.Expect("> ")) << chat.output();
    chat.Send("\x04");  // Ctrl-D
    EXPECT_EQ(chat.Wait(), 0) << chat.output();
  }
  std::ifstream history(state / "gemma/history");
  const std::string saved((std::istreambuf_iterator<char>(history)), {});
  EXPECT_TRUE(Contains(saved, "remember")) << saved;
  // The next run recalls it with the up arrow.
  PtySession chat({"chat", "-m", kTiny, "-n", "2", "--verbose-prompt"},
                  {"XDG_STATE_HOME=" + state.str()});
  ASSERT_TRUE(chat.Expect("> ")) << chat.output();
  chat.Send("\x1b[A\r");
  EXPECT_TRUE(chat.Expect("user\nremember this line<end_of_turn>")) << chat.output();
  chat.Send("/bye\r");
  EXPECT_EQ(chat.Wait(), 0) << chat.output();
}

TEST(CliTerminal, MultiLineMessagesInATerminal) {
  TempDir state;
  PtySession chat({"chat", "-m", kTiny, "-n", "2", "--verbose-prompt"},
                  {"XDG_STATE_HOME=" + state.str()});
  ASSERT_TRUE(chat.Expect("> ")) << chat.output();
  chat.Send("\"\"\"first line\r");
  ASSERT_TRUE(chat.Expect("... ")) << chat.output();
  chat.Send("second line\"\"\"\r");
  EXPECT_TRUE(chat.Expect("user\nfirst line\nsecond line<end_of_turn>")) << chat.output();
  ASSERT_TRUE(chat.Expect("> ")) << chat.output();
  chat.Send("/bye\r");
  EXPECT_EQ(chat.Wait(), 0) << chat.output();
}

// The same from a pipe: """ blocks, \ continuation, and /commands that are
// handled rather than sent to the model.
TEST(CliChat, CommandsAndMultiLineFromAPipe) {
  const std::string input =
      "/help\n"
      "\"\"\"one\n"
      "two\"\"\"\n"
      "three \\\n"
      "four\n"
      "/frobnicate\n"
      "/clear\n"
      "\"\"\"/not a command\"\"\"\n"
      "/bye\n"
      "never sent\n";
  const auto out = RunCli("chat --no-history -m " + kTiny + " -n 2 --verbose-prompt", input);
  EXPECT_EQ(out.exit_code, 0) << out.text;
  EXPECT_TRUE(Contains(out.text, "Commands:\n  /help")) << out.text;
  EXPECT_TRUE(Contains(out.text, "user\none\ntwo<end_of_turn>")) << out.text;
  EXPECT_TRUE(Contains(out.text, "user\nthree \nfour<end_of_turn>")) << out.text;
  EXPECT_TRUE(Contains(out.text, "unknown command /frobnicate")) << out.text;
  EXPECT_TRUE(Contains(out.text, "(conversation cleared)")) << out.text;
  EXPECT_TRUE(Contains(out.text, "user\n/not a command<end_of_turn>")) << out.text;
  EXPECT_FALSE(Contains(out.text, "never sent")) << out.text;
}

// Thinking mode is Gemma 4's: on the Gemma 3 tiny model --think and /think
// say the model has none and the chat goes on without it.
TEST(CliChat, ThinkingOnAModelWithoutItIsAWarning) {
  const std::string input =
      "/think on\n"
      "/think maybe\n"
      "/think off\n"
      "hello\n"
      "/bye\n";
  const auto out = RunCli("chat --no-history -m " + kTiny + " -n 2 --think", input);
  EXPECT_EQ(out.exit_code, 0) << out.text;
  EXPECT_TRUE(Contains(out.text, "turn format (gemma) has no thinking mode; --think is ignored"))
      << out.text;
  EXPECT_TRUE(Contains(out.text, "(this model's turn format has no thinking mode)")) << out.text;
  EXPECT_TRUE(Contains(out.text, "usage: /think on, /think off (thinking is off)")) << out.text;
  const auto run = RunCli("run -m " + kTiny + " -p hello -n 2 --no-think");
  EXPECT_EQ(run.exit_code, 0) << run.text;
  EXPECT_FALSE(Contains(run.text, "thinking mode")) << run.text;
  const auto run_think = RunCli("run -m " + kTiny + " -p hello -n 2 --think");
  EXPECT_EQ(run_think.exit_code, 0) << run_think.text;
  EXPECT_TRUE(Contains(run_think.text, "--think is ignored")) << run_think.text;
}

// An installed program (<prefix>/bin/gemma) finds the bundled model in
// <prefix>/share/gemma/ from any folder, not only inside the checkout.
TEST(CliDefaultModel, FoundNextToAnInstalledProgram) {
  TempDir prefix;
  fs::create_directories(prefix / "bin");
  fs::create_directories(prefix / "share/gemma");
  fs::copy_file(GEMMA_CLI_PATH, prefix / "bin/gemma");
  fs::copy_file(kTiny, prefix / "share/gemma/tiny-gemma3.gguf");
  const std::string command = "cd / && " + prefix / "bin/gemma" + " info --json --no-tensors 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string text;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) text.append(buffer, n);
  ASSERT_EQ(pclose(pipe), 0) << text;
  const nlohmann::json info = nlohmann::json::parse(text);
  EXPECT_EQ(fs::canonical(info["path"].get<std::string>()),
            fs::canonical(prefix / "share/gemma/tiny-gemma3.gguf"));
}

}  // namespace
}  // namespace gemma
