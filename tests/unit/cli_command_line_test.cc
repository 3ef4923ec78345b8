// The `gemma` command line as a library (cli/command_line.h): parsing fills in
// flags and selects a subcommand without running it, which is what the
// argument fuzzer (fuzz/cli_args_fuzz.cc) relies on, parse after parse on one
// app. The program's own behaviour (messages, exit codes) is checked by
// running it, in cli_test.cc and cli_input_test.cc.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "command_line.h"

namespace gemma::cli {
namespace {

// CLI11 takes the arguments without the program name, last one first.
void Parse(CommandLine& command_line, std::vector<std::string> args) {
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  command_line.app.clear();
  command_line.Parse(reversed);
}

// The name of the subcommand the last parse selected, "" if none.
std::string SelectedName(const CommandLine& command_line) {
  for (const CLI::App* sub : command_line.app.get_subcommands()) return sub->get_name();
  return "";
}

// Found by cli_args_fuzz: CLI11 2.1 converts a negated flag's "=value" with
// std::stoll, and a number past int64 escaped as std::out_of_range (the
// program aborted). It is a parse error that names the argument.
TEST(CliCommandLine, FlagValueOutOfRangeIsAParseError) {
  CommandLine command_line;
  for (const char* arg :
       {"--no-think=55555555555555555555555555", "--no-think=-99999999999999999999"}) {
    SCOPED_TRACE(arg);
    try {
      Parse(command_line, {"run", arg});
      ADD_FAILURE() << "parsed";
    } catch (const CLI::ParseError& e) {
      const std::string flag = std::string(arg).substr(0, std::string(arg).find('='));
      EXPECT_NE(std::string(e.what()).find(flag + ": the value"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
    }
  }
}

TEST(CliCommandLine, HasEverySubcommand) {
  CommandLine command_line;
  for (const char* name :
       {"run", "chat", "info", "tokenize", "logits", "perplexity", "quantize", "bench", "serve"}) {
    SCOPED_TRACE(name);
    EXPECT_NO_THROW((void)command_line.app.get_subcommand(name));
  }
  EXPECT_EQ(command_line.commands.size(), 9u);
}

TEST(CliCommandLine, ParsingSelectsACommandWithoutRunningIt) {
  CommandLine command_line;
  // A model path that does not exist: running the command would fail on it,
  // parsing must not look at it.
  Parse(command_line, {"serve", "-m", "/nonexistent/model.gguf", "--port", "8081", "--np", "2",
                       "--api-key", "a,b", "--kv-type", "Q8_0"});
  EXPECT_EQ(SelectedName(command_line), "serve");
  EXPECT_TRUE(command_line.Selected());
  Parse(command_line, {"run", "-m", "/nonexistent/model.gguf", "-p", "hi", "--temp", "0"});
  EXPECT_EQ(SelectedName(command_line), "run");
  EXPECT_TRUE(command_line.Selected());
}

TEST(CliCommandLine, OutOfRangeAndUnknownFlagsAreParseErrors) {
  CommandLine command_line;
  EXPECT_THROW(Parse(command_line, {"serve", "--port", "70000"}), CLI::ValidationError);
  EXPECT_THROW(Parse(command_line, {"run", "--temp", "-1"}), CLI::ValidationError);
  EXPECT_THROW(Parse(command_line, {"run", "--no-such-flag"}), CLI::ExtrasError);
  EXPECT_THROW(Parse(command_line, {}), CLI::RequiredError);
  EXPECT_THROW(Parse(command_line, {"--help"}), CLI::CallForHelp);
  // After errors the same app still parses a good command line.
  Parse(command_line, {"info", "-m", "/nonexistent/model.gguf"});
  EXPECT_EQ(SelectedName(command_line), "info");
}

TEST(CliCommandLine, NoCommandSelectedIsAnEmptyFunction) {
  CommandLine command_line;
  EXPECT_FALSE(command_line.Selected());  // nothing parsed yet
  EXPECT_THROW(Parse(command_line, {"--version"}), CLI::CallForVersion);
  EXPECT_FALSE(command_line.Selected());
}

}  // namespace
}  // namespace gemma::cli
