// The `gemma` program's command line: the CLI11 app with every subcommand and
// its flags. Parsing only fills in flags; the selected subcommand runs when
// main() calls it, so tests and the argument fuzzer (fuzz/cli_args_fuzz.cc)
// can parse any command line without loading a model.
#pragma once

#include <CLI/CLI.hpp>
#include <map>

#include "commands.h"

namespace gemma::cli {

struct CommandLine {
  CommandLine();
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  // The subcommand the last successful app.parse() selected, or an empty
  // function when there is none.
  Command Selected() const;

  CLI::App app;
  std::map<const CLI::App*, Command> commands;
};

}  // namespace gemma::cli
