#include "command_line.h"

namespace gemma::cli {

CommandLine::CommandLine()
    : app("gemma: run Google's Gemma models (GGUF files or Hugging Face folders) on the CPU") {
  app.require_subcommand(1);
  app.set_version_flag("--version", "gemma 0.1.0");
  auto add = [&](const char* name, const char* help, auto register_fn) {
    CLI::App* sub = app.add_subcommand(name, help);
    commands[sub] = register_fn(*sub);
  };
  add("run", "generate an answer to one prompt", RegisterRun);
  add("chat", "interactive multi-turn chat", RegisterChat);
  add("info", "architecture, hyper-parameters, tensors, memory", RegisterInfo);
  add("tokenize", "text to token ids", RegisterTokenize);
  add("logits", "logits of a token sequence as raw f32 (to check against a reference)",
      RegisterLogits);
  add("perplexity", "perplexity of a text, and KL divergence against a saved base",
      RegisterPerplexity);
  add("quantize", "write a model as a GGUF file of another type", RegisterQuantize);
  add("bench", "prompt and generation speed, in llama-bench's format", RegisterBench);
  add("serve", "OpenAI- and Ollama-compatible HTTP server for many users at once", RegisterServe);
}

void CommandLine::Parse(int argc, const char* const* argv) {
  std::vector<std::string> args;
  for (int i = argc - 1; i > 0; --i) args.emplace_back(argv[i]);
  Parse(args);
}

void CommandLine::Parse(std::vector<std::string>& args) {
  const std::vector<std::string> given(args.rbegin(), args.rend());
  try {
    app.parse(args);
  } catch (const std::logic_error& e) {  // std::out_of_range, std::invalid_argument
    // The argument CLI11 could not convert: a value after '=' that is not a
    // word CLI11 knows.
    for (const std::string& arg : given) {
      const size_t eq = arg.find('=');
      if (arg.size() > 1 && arg[0] == '-' && eq != std::string::npos) {
        const std::string value = arg.substr(eq + 1);
        if (!value.empty() && value.find_first_not_of("-+0123456789") == std::string::npos) {
          throw CLI::ConversionError(arg.substr(0, eq) + ": the value " + value +
                                     " is out of range (a flag takes true, false or a small "
                                     "number)");
        }
      }
    }
    throw CLI::ConversionError(std::string("a value on the command line cannot be converted (") +
                               e.what() + ")");
  }
}

Command CommandLine::Selected() const {
  for (const CLI::App* sub : app.get_subcommands()) {
    const auto it = commands.find(sub);
    if (it != commands.end()) return it->second;
  }
  return {};
}

}  // namespace gemma::cli
