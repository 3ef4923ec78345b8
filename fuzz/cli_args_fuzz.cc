// libFuzzer target: arbitrary bytes as the `gemma` program's command line,
// parsed by its real CLI11 setup (cli/command_line.h) without running the
// selected command. The input is split into arguments at newlines (seeds are
// readable text files, one argument a line).
//
// Parsing (CommandLine::Parse, as main() does) must succeed or throw
// CLI::ParseError, which the program turns into
// a message (app.exit, printed here to a discarded stream); any other
// exception or a sanitizer report is a bug. The app is built once (most of
// the time per input otherwise) and cleared before each parse, as CLI11
// allows: options' counts and results are reset; the variables they write
// keep earlier values, which parsing does not read.
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "command_line.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args;
  std::string current;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      args.push_back(current);
      current.clear();
    } else {
      current.push_back(static_cast<char>(data[i]));
    }
  }
  if (!current.empty()) args.push_back(current);
  if (args.size() > 64) return 0;
  // CLI11 takes the arguments in reverse order, without the program name.
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  static gemma::cli::CommandLine command_line;
  command_line.app.clear();
  try {
    command_line.Parse(reversed);
    (void)command_line.Selected();
  } catch (const CLI::ParseError& e) {
    std::ostringstream out, err;
    (void)command_line.app.exit(e, out, err);
  }
  return 0;
}
