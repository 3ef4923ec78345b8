// gemma: run Gemma models on the CPU. See README.md.
#include <iostream>
#include <map>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"gemma: run Google's Gemma models (GGUF files or Hugging Face folders) on the CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "gemma 0.1.0");
  std::map<CLI::App*, gemma::cli::Command> commands;
  auto add = [&](const char* name, const char* help, auto register_fn) {
    CLI::App* sub = app.add_subcommand(name, help);
    commands[sub] = register_fn(*sub);
  };
  add("run", "generate an answer to one prompt", gemma::cli::RegisterRun);
  add("chat", "interactive multi-turn chat", gemma::cli::RegisterChat);
  add("info", "architecture, hyper-parameters, tensors, memory", gemma::cli::RegisterInfo);
  add("tokenize", "text to token ids", gemma::cli::RegisterTokenize);
  add("logits", "logits of a token sequence as raw f32 (to check against a reference)",
      gemma::cli::RegisterLogits);
  add("perplexity", "perplexity of a text, and KL divergence against a saved base",
      gemma::cli::RegisterPerplexity);
  add("quantize", "write a model as a GGUF file of another type", gemma::cli::RegisterQuantize);
  add("bench", "prompt and generation speed, in llama-bench's format", gemma::cli::RegisterBench);
  add("serve", "OpenAI- and Ollama-compatible HTTP server for many users at once",
      gemma::cli::RegisterServe);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (CLI::App* sub : app.get_subcommands()) return commands[sub]();
  return 1;
}
