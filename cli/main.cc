// gemma: run Gemma models on the CPU. See README.md.
#include "command_line.h"

int main(int argc, char** argv) {
  gemma::cli::CommandLine command_line;
  try {
    command_line.Parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return command_line.app.exit(e);
  }
  const gemma::cli::Command command = command_line.Selected();
  return command ? command() : 1;
}
