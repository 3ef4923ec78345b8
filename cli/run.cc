// gemma run: one prompt, the answer streamed to stdout.
#include <iostream>

#include "commands.h"

namespace gemma::cli {

Command RegisterRun(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    SamplingFlags sampling;
    std::string prompt;
    std::string system;
    bool raw = false;
  };
  auto flags = std::make_shared<Flags>();
  flags->model.Register(app, /*model_required=*/false);
  flags->sampling.Register(app);
  app.add_option("-p,--prompt", flags->prompt, "the prompt")->required();
  app.add_option("-s,--system", flags->system, "system prompt (folded into the first user turn)");
  app.add_flag("--raw", flags->raw, "plain completion: no chat turn format");
  return [flags]() {
    std::unique_ptr<Model> model = flags->model.Open();
    if (!model) return 1;
    auto print = [](std::string_view text) {
      std::cout << text << std::flush;
      return true;
    };
    Result<std::string> answer = [&]() -> Result<std::string> {
      if (flags->raw) return Complete(*model, flags->prompt, flags->sampling.options, print);
      Chat chat(*model, flags->system);
      return chat.Send(flags->prompt, flags->sampling.options, print);
    }();
    std::cout << "\n";
    if (!answer.ok()) {
      std::cerr << "error: " << answer.status().message() << "\n";
      return 1;
    }
    return 0;
  };
}

}  // namespace gemma::cli
