// gemma run: one prompt (from -p, a file, or stdin), the answer streamed to
// stdout, a timing line on stderr. Ctrl-C stops the answer.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "commands.h"
#include "console.h"
#include "generate.h"

namespace gemma::cli {

Command RegisterRun(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    SamplingFlags sampling;
    ReportFlags report;
    ThinkFlags think;
    std::string prompt;
    std::string prompt_file;
    std::string system;
    bool raw = false;
  };
  auto flags = std::make_shared<Flags>();
  flags->model.Register(app, /*model_required=*/false);
  flags->sampling.Register(app);
  flags->report.Register(app);
  flags->think.Register(app);
  auto* prompt = app.add_option("-p,--prompt", flags->prompt, "the prompt; - reads it from stdin");
  auto* file = app.add_option("-f,--file", flags->prompt_file, "read the prompt from this file");
  prompt->excludes(file);
  file->excludes(prompt);
  app.add_option("-s,--system", flags->system,
                 "system prompt (Gemma 4: a system turn; Gemma 1-3n: folded into the first user "
                 "turn)");
  app.add_flag("--raw", flags->raw, "plain completion: no chat turn format");
  return [flags, prompt, file]() {
    if (prompt->count() == 0 && file->count() == 0) {
      std::cerr << "error: give the prompt with -p TEXT, -p - (stdin) or -f FILE\n";
      return 1;
    }
    std::string text = flags->prompt;
    if (file->count() > 0) {
      if (const std::string error = InputFileError(flags->prompt_file, "prompt file", false);
          !error.empty()) {
        std::cerr << "error: " << error << "\n";
        return 1;
      }
      std::ifstream in(flags->prompt_file, std::ios::binary);
      text.assign(std::istreambuf_iterator<char>(in), {});
    } else if (text == "-") {
      std::ostringstream in;
      in << std::cin.rdbuf();
      text = in.str();
    }
    const bool verbose = flags->report.verbose;
    if (!flags->sampling.Resolve(verbose)) return 1;
    std::unique_ptr<Model> model = flags->model.Open(/*announce=*/true, verbose);
    if (!model) return 1;
    InstallInterruptHandler();
    TurnStats stats;
    Result<std::string> answer = [&]() -> Result<std::string> {
      if (flags->raw) {
        return RawCompletion(*model, text, flags->sampling.options, flags->report.verbose_prompt,
                             stats);
      }
      Chat chat(*model, flags->system);
      flags->think.Apply(chat);
      return ChatTurn(*model, chat, text, flags->sampling.options, flags->report.verbose_prompt,
                      stats);
    }();
    std::cout << "\n" << std::flush;
    if (!answer.ok()) {
      std::cerr << "error: " << answer.status().message() << "\n";
      return 1;
    }
    if (verbose || isatty(STDERR_FILENO)) PrintTurnStats(stats, verbose);
    return stats.interrupted ? 130 : 0;
  };
}

}  // namespace gemma::cli
