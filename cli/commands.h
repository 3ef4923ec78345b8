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
  std::string matformer;
  void Register(CLI::App& app, bool model_required = true);
  // Opens the model or prints the error and returns null. announce: show a
  // load line (progress on a terminal), which verbose makes detailed.
  std::unique_ptr<Model> Open(bool announce = false, bool verbose = false) const;
  // The options Open() uses, and the model path (the default model if unset).
  ModelOptions Options() const;
  std::string path() const;
};

// --verbose and --verbose-prompt, for the commands that generate.
struct ReportFlags {
  bool verbose = false;
  bool verbose_prompt = false;
  void Register(CLI::App& app);
};

// --think / --no-think: Gemma 4's thinking mode (off by default, as in its
// chat template). Other models have none: --think warns and is ignored.
struct ThinkFlags {
  bool think = false;
  void Register(CLI::App& app);
  // Turns the chat's thinking mode on as asked; a warning on stderr where
  // the model's format has none.
  void Apply(Chat& chat) const;
};

struct SamplingFlags {
  GenerateOptions options;
  CLI::Option* seed_option = nullptr;
  void Register(CLI::App& app);
  // Picks a random seed unless --seed was given (printed when verbose) and
  // checks the parameters; prints the error and returns false if invalid.
  bool Resolve(bool verbose);
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
// the repository (models/), found from inside a checkout or next to an
// installed program (<prefix>/share/gemma/, or beside the binary), so that a
// fresh checkout or install runs end to end.
std::string DefaultModelPath();

// Opens a model; with `announce`, on a terminal (or when verbose) shows a
// load line: reading progress for large files, then what was loaded, its
// resident memory and the time it took. Load warnings go to stderr always.
std::unique_ptr<Model> OpenModel(const std::string& path, const ModelOptions& options,
                                 bool announce, bool verbose);

// "" when `path` is a readable regular file (or missing and may_be_missing);
// else the error in words (a FIFO, a symlink loop, a name too long...).
// *exists tells whether it is there.
std::string InputFileError(const std::string& path, const std::string& what, bool may_be_missing,
                           bool* exists = nullptr);

// A CLI11 check that a value is a number in [low, high] (or (low, high]),
// failing with the allowed values in words ("use 0 (greedy) or more")
// rather than a range of 309-digit numbers.
CLI::Validator NumberIn(double low, double high, const std::string& words,
                        bool low_exclusive = false);

}  // namespace gemma::cli
