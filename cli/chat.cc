// gemma chat: interactive multi-turn chat with line editing (libedit).
#include <editline/readline.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "commands.h"

namespace gemma::cli {
namespace {

// Reads one line; false at end of input. Uses libedit on a terminal and plain
// getline otherwise (pipes, tests).
bool ReadLine(std::string& line) {
  if (isatty(STDIN_FILENO)) {
    char* input = readline("> ");
    if (input == nullptr) return false;
    line = input;
    if (!line.empty()) add_history(input);
    std::free(input);
    return true;
  }
  std::cout << "> " << std::flush;
  return static_cast<bool>(std::getline(std::cin, line));
}

}  // namespace

Command RegisterChat(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    SamplingFlags sampling;
    std::string system;
    std::string session_file;
  };
  auto flags = std::make_shared<Flags>();
  flags->model.Register(app, /*model_required=*/false);
  flags->sampling.Register(app);
  app.add_option("-s,--system", flags->system, "system prompt (folded into the first user turn)");
  app.add_option(
      "--session", flags->session_file,
      "keep the conversation in this file: resumed if it exists, saved after every turn");
  app.add_flag("--drop-old-turns", flags->sampling.options.drop_oldest_turns,
               "when the context is full, drop the oldest turns instead of stopping");
  return [flags]() {
    std::unique_ptr<Model> model = flags->model.Open();
    if (!model) return 1;
    Chat chat(*model, flags->system);
    auto save = [&]() {
      if (flags->session_file.empty()) return;
      const Status status = chat.Save(flags->session_file);
      if (!status.ok()) std::cerr << "error: " << status.message() << "\n";
    };
    if (!flags->session_file.empty() && std::filesystem::exists(flags->session_file)) {
      const Status status = chat.Load(flags->session_file);
      if (!status.ok()) {
        std::cerr << "error: " << status.message() << "\n";
        return 1;
      }
      std::cout << "(resumed " << chat.history().size() << " turns from " << flags->session_file
                << ")\n";
    }
    std::cout << "Chatting with " << model->info().path << " (" << model->info().architecture
              << "). /reset starts over, /exit quits.\n";
    std::string line;
    while (ReadLine(line)) {
      if (line == "/exit" || line == "/quit") break;
      if (line == "/reset") {
        chat.Reset();
        save();
        std::cout << "(conversation cleared)\n";
        continue;
      }
      if (line.empty()) continue;
      Result<std::string> answer = chat.Send(line, flags->sampling.options, [](std::string_view t) {
        std::cout << t << std::flush;
        return true;
      });
      std::cout << "\n";
      if (!answer.ok()) {
        std::cerr << "error: " << answer.status().message() << "\n";
        std::cerr << "(use /reset to start a new conversation)\n";
      }
      save();
    }
    return 0;
  };
}

}  // namespace gemma::cli
