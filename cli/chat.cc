// gemma chat: interactive multi-turn chat. Line editing and history kept
// across runs (libedit), multi-line messages, Ctrl-C to stop an answer (and
// a second one at the prompt to leave), /commands.
#include <unistd.h>

#include <iostream>

#include "commands.h"
#include "console.h"
#include "generate.h"

namespace gemma::cli {
namespace {

constexpr char kHelp[] =
    "Commands:\n"
    "  /help, /?          this list\n"
    "  /clear, /reset     forget the conversation and start over\n"
    "  /think on|off      Gemma 4's thinking mode from the next turn on\n"
    "  /bye, /exit        leave (as do Ctrl-D and a second Ctrl-C at the prompt)\n"
    "Several lines: start with \"\"\" and end with \"\"\", or end a line with \\ to go on.\n"
    "Ctrl-C stops an answer; a second Ctrl-C at the prompt leaves.\n";

enum class Action { kNone, kHelp, kClear, kThinkOn, kThinkOff, kThinkUsage, kExit, kUnknown };

Action ParseCommand(const std::string& line) {
  if (line.empty() || line[0] != '/') return Action::kNone;
  const std::string word = line.substr(0, line.find_first_of(" \t"));
  if (word == "/help" || word == "/?") return Action::kHelp;
  if (word == "/clear" || word == "/reset") return Action::kClear;
  if (word == "/think") {
    const size_t arg = line.find_first_not_of(" \t", word.size());
    const std::string value =
        arg == std::string::npos ? "" : line.substr(arg, line.find_last_not_of(" \t") + 1 - arg);
    if (value == "on") return Action::kThinkOn;
    if (value == "off") return Action::kThinkOff;
    return Action::kThinkUsage;
  }
  if (word == "/bye" || word == "/exit" || word == "/quit") return Action::kExit;
  return Action::kUnknown;
}

}  // namespace

Command RegisterChat(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    SamplingFlags sampling;
    ReportFlags report;
    ThinkFlags think;
    std::string system;
    std::string session_file;
    bool no_history = false;
  };
  auto flags = std::make_shared<Flags>();
  flags->model.Register(app, /*model_required=*/false);
  flags->sampling.Register(app);
  flags->report.Register(app);
  flags->think.Register(app);
  app.add_option("-s,--system", flags->system,
                 "system prompt (Gemma 4: a system turn; Gemma 1-3n: folded into the first user "
                 "turn)");
  app.add_option(
      "--session", flags->session_file,
      "keep the conversation in this file: resumed if it exists, saved after every turn");
  app.add_flag("--drop-old-turns", flags->sampling.options.drop_oldest_turns,
               "when the context is full, drop the oldest turns instead of stopping");
  app.add_flag("--no-history", flags->no_history,
               "do not read or write the input history (~/.local/state/gemma/history)");
  return [flags]() {
    const bool verbose = flags->report.verbose;
    bool resume = false;
    if (!flags->session_file.empty()) {
      // Checked before loading the model: a FIFO would block the read, a
      // symlink loop or an over-long name is not "absent".
      const std::string error =
          InputFileError(flags->session_file, "session file", /*may_be_missing=*/true, &resume);
      if (!error.empty()) {
        std::cerr << "error: " << error << "\n";
        return 1;
      }
    }
    if (!flags->sampling.Resolve(verbose)) return 1;
    std::unique_ptr<Model> model = flags->model.Open(/*announce=*/true, verbose);
    if (!model) return 1;
    Chat chat(*model, flags->system);
    flags->think.Apply(chat);
    auto save = [&]() {
      if (flags->session_file.empty()) return;
      const Status status = chat.Save(flags->session_file);
      if (!status.ok()) std::cerr << "error: " << status.message() << "\n";
    };
    if (resume) {
      const Status status = chat.Load(flags->session_file);
      if (!status.ok()) {
        std::cerr << "error: " << status.message() << "\n";
        return 1;
      }
      std::cout << "(resumed " << chat.history().size() << " turns from " << flags->session_file
                << ")\n";
    }
    std::cout << "Chatting with " << model->info().path << " (" << model->info().architecture
              << "). /help lists the commands, /bye leaves.\n";
    LineReader reader(flags->no_history ? "" : DefaultHistoryPath());
    InstallInterruptHandler();
    MessageAssembler assembler;
    bool interrupted_last = false;  // the previous Ctrl-C: a second one leaves
    std::string line;
    for (;;) {
      const LineReader::Status read = reader.Read(assembler.pending() ? "... " : "> ", line);
      if (read == LineReader::Status::kEndOfInput) break;
      if (read == LineReader::Status::kInterrupted) {
        ClearInterrupt();
        if (assembler.pending()) {  // Ctrl-C in a multi-line message drops it
          assembler.Clear();
          std::cout << "(message discarded)\n";
          continue;
        }
        if (interrupted_last) break;
        interrupted_last = true;
        std::cout << "(Ctrl-C again, Ctrl-D or /bye to leave)\n";
        continue;
      }
      interrupted_last = false;
      reader.Remember(line);
      if (!assembler.pending()) {
        const Action action = ParseCommand(line);
        if (action == Action::kExit) break;
        if (action == Action::kHelp) {
          std::cout << kHelp;
          continue;
        }
        if (action == Action::kClear) {
          chat.Reset();
          save();
          std::cout << "(conversation cleared)\n";
          continue;
        }
        if (action == Action::kThinkUsage) {
          std::cout << "usage: /think on, /think off (thinking is "
                    << (chat.thinking() ? "on" : "off") << ")\n";
          continue;
        }
        if (action == Action::kThinkOn || action == Action::kThinkOff) {
          if (!chat.supports_thinking()) {
            std::cout << "(this model's turn format has no thinking mode)\n";
            continue;
          }
          chat.set_thinking(action == Action::kThinkOn);
          std::cout << "(thinking " << (chat.thinking() ? "on" : "off") << " from the next turn)\n";
          continue;
        }
        if (action == Action::kUnknown) {
          std::cout << "unknown command " << line.substr(0, line.find(' '))
                    << " (/help lists them; to send text starting with /, put it in \"\"\")\n";
          continue;
        }
      }
      if (!assembler.Feed(line)) continue;
      const std::string message = assembler.Take();
      if (message.find_first_not_of(" \t\r\n") == std::string::npos) continue;
      ClearInterrupt();
      TurnStats stats;
      Result<std::string> answer = ChatTurn(*model, chat, message, flags->sampling.options,
                                            flags->report.verbose_prompt, stats);
      std::cout << "\n" << std::flush;
      if (stats.interrupted) {
        ClearInterrupt();
        interrupted_last = true;
        std::cout << "(stopped)\n";
      }
      if (!answer.ok()) {
        std::cerr << "error: " << answer.status().message() << "\n";
        std::cerr << "(use /clear to start a new conversation)\n";
      } else if (verbose || isatty(STDERR_FILENO)) {
        PrintTurnStats(stats, verbose);
      }
      save();
    }
    return 0;
  };
}

}  // namespace gemma::cli
