// The `gemma` program's command line: the CLI11 app with every subcommand and
// its flags. Parsing only fills in flags; the selected subcommand runs when
// main() calls it, so tests and the argument fuzzer (fuzz/cli_args_fuzz.cc)
// can parse any command line without loading a model.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <vector>

#include "commands.h"

namespace gemma::cli {

struct CommandLine {
  CommandLine();
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  // app.parse, where every bad command line throws CLI::ParseError: CLI11
  // 2.1 converts a flag's value with std::stoll, whose std::out_of_range (or
  // invalid_argument) for "--no-think=555555555555555555555" would escape
  // its own errors, so that becomes a CLI::ConversionError naming the
  // argument. `args` as app.parse takes them: reversed, no program name.
  void Parse(int argc, const char* const* argv);
  void Parse(std::vector<std::string>& args);

  // The subcommand the last successful Parse selected, or an empty
  // function when there is none.
  Command Selected() const;

  CLI::App app;
  std::map<const CLI::App*, Command> commands;
};

}  // namespace gemma::cli
