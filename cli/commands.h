// The `gemma` program's subcommands. Each registers its flags on the CLI11 app
// and returns the function that runs it (exit code).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "gemma/gemma.h"

namespace gemma::cli {

using Command = std::function<int()>;

// Flags shared by the subcommands that load a model.
struct ModelFlags {
  std::string model_path;
  std::string tokenizer_path;
  int threads = 0;
  int context = 0;
  std::string kv_type = ModelOptions{}.kv_cache_type;  // gemma.h holds the default
  int batch_size = 256;
  bool exact = false;
  std::string simd;
  void Register(CLI::App& app, bool model_required = true);
  // Opens the model or prints the error and returns null.
  std::unique_ptr<Model> Open() const;
  // The options Open() uses, and the model path (the default model if unset).
  ModelOptions Options() const;
  std::string path() const;
};

struct SamplingFlags {
  GenerateOptions options;
  void Register(CLI::App& app);
};

Command RegisterRun(CLI::App& app);
Command RegisterChat(CLI::App& app);
Command RegisterInfo(CLI::App& app);
Command RegisterTokenize(CLI::App& app);
Command RegisterLogits(CLI::App& app);
Command RegisterBench(CLI::App& app);
Command RegisterPerplexity(CLI::App& app);
Command RegisterQuantize(CLI::App& app);
Command RegisterServe(CLI::App& app);

// Default model when -m is not given: the tiny random-weight model shipped in
// the repository (models/), so that a fresh checkout runs end to end.
std::string DefaultModelPath();

}  // namespace gemma::cli
