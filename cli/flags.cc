#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>

#include "commands.h"
#include "generate.h"

namespace gemma::cli {

namespace {

constexpr const char* kDefaultModelName = "tiny-gemma3.gguf";

bool IsRegularFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The folder holding the running program (/proc/self/exe), or "".
std::string ProgramDirectory() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "" : exe.parent_path().string();
}

}  // namespace

std::string DefaultModelPath() {
  // From inside a checkout (build/ sits in it), then next to an installed
  // program: <prefix>/bin/gemma finds <prefix>/share/gemma/, a copy beside
  // the binary also works.
  std::vector<std::string> candidates = {std::string("models/") + kDefaultModelName,
                                         std::string("../models/") + kDefaultModelName};
  if (const std::string dir = ProgramDirectory(); !dir.empty()) {
    for (const char* relative : {"/", "/../share/gemma/", "/../models/"}) {
      candidates.push_back(dir + relative + kDefaultModelName);
    }
  }
  for (const std::string& candidate : candidates) {
    if (IsRegularFile(candidate)) return candidate;
  }
  return candidates.front();
}

std::string InputFileError(const std::string& path, const std::string& what, bool may_be_missing,
                           bool* exists) {
  if (exists != nullptr) *exists = false;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if ((err == ENOENT || err == ENOTDIR) && may_be_missing) return "";
    const std::string shown = path.size() > 200 ? path.substr(0, 200) + "..." : path;
    return shown + ": " + (err == ENOENT ? "no such " + what : std::string(std::strerror(err)));
  }
  if (S_ISDIR(st.st_mode)) return path + ": is a folder, not a " + what;
  if (!S_ISREG(st.st_mode)) {
    const char* kind = S_ISFIFO(st.st_mode)   ? "a FIFO"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "not a regular file";
    return path + ": is " + std::string(kind) + ", not a " + what;
  }
  if (exists != nullptr) *exists = true;
  return "";
}

CLI::Validator NumberIn(double low, double high, const std::string& words, bool low_exclusive) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        errno = 0;
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        const bool parsed = end != text.c_str() && *end == '\0' && errno != ERANGE;
        const bool in_range =
            std::isfinite(value) && (low_exclusive ? value > low : value >= low) && value <= high;
        if (parsed && in_range) return "";
        return text + " is not allowed: " + words;
      },
      "", "");
}

void ModelFlags::Register(CLI::App& app, bool model_required) {
  auto* opt =
      app.add_option("-m,--model", model_path, "a .gguf file or a Hugging Face checkpoint folder");
  if (model_required) {
    opt->required();
  } else {
    opt->default_str("the bundled tiny random-weight model");
  }
  app.add_option("--tokenizer", tokenizer_path,
                 "tokenizer.json or tokenizer.model to use instead of the model's own");
  app.add_option("-t,--threads", threads,
                 "threads (default: one per CPU; more than the CPUs are capped)")
      ->check(NumberIn(0, INT_MAX, "use 0 (one per CPU) or a number of threads"));
  app.add_option("-c,--ctx", context, "context length (default: the model's, at most 8192)")
      ->check(
          NumberIn(0, INT_MAX, "use 0 (the model's limit, at most 8192) or a number of tokens"));
  app.add_option("--kv-type", kv_type,
                 "KV cache element type: auto (f32 for 16/32-bit weights, f16 for quantized), f32, "
                 "f16, bf16, q8_0, q4_0")
      ->capture_default_str()
      ->transform(CLI::IsMember({"auto", "bf16", "f16", "f32", "q8_0", "q4_0"}, CLI::ignore_case));
  app.add_option("-b,--batch-size", batch_size, "prompt tokens per forward step")
      ->capture_default_str()
      ->check(NumberIn(1, 8192, "use 1 to 8192 tokens"));
  app.add_flag("--exact", exact,
               "f32 activations everywhere (default: 8-bit activations with packed integer "
               "weights on CPUs with AVX2 or AVX-512, as llama.cpp; hi + lo bf16 pairs with "
               "BF16 weights on AVX512_BF16)");
  app.add_option("--simd", simd,
                 "cap the SIMD code path at this target (AVX3_DL, AVX2, SCALAR, either case; "
                 "default: the best the CPU runs, or $GEMMA_SIMD)");
  app.add_option("--matformer", matformer,
                 "Gemma 3n MatFormer: load a nested smaller model, \"e2b\" (the official E2B out "
                 "of E4B) or \"ffn=W[,W...] skip=LAYERS\" (feed-forward widths, one or one per "
                 "layer; layers to leave out, e.g. 20-24)");
}

ModelOptions ModelFlags::Options() const {
  ModelOptions options;
  options.threads = threads;
  options.context_length = context;
  options.tokenizer_path = tokenizer_path;
  options.kv_cache_type = kv_type;
  options.batch_size = batch_size;
  options.exact = exact;
  options.simd = simd;
  options.matformer = matformer;
  return options;
}

std::string ModelFlags::path() const {
  return model_path.empty() ? DefaultModelPath() : model_path;
}

std::unique_ptr<Model> ModelFlags::Open(bool announce, bool verbose) const {
  return OpenModel(path(), Options(), announce, verbose);
}

void ReportFlags::Register(CLI::App& app) {
  app.add_flag("--verbose", verbose,
               "more detail: the seed, load details, times, context use and peak memory");
  app.add_flag("--verbose-prompt", verbose_prompt,
               "print the prompt as the model sees it (tokens, control tokens spelled out)");
}

void ThinkFlags::Register(CLI::App& app) {
  app.add_flag("--think,!--no-think", think,
               "Gemma 4: think before answering (the thoughts shown dimmed); --no-think: answer "
               "at once (the default)");
}

void ThinkFlags::Apply(Chat& chat) const {
  if (think && !chat.supports_thinking()) {
    std::cerr << "warning: this model's turn format (" << chat.format()
              << ") has no thinking mode; --think is ignored\n";
    return;
  }
  chat.set_thinking(think);
}

void SamplingFlags::Register(CLI::App& app) {
  SamplingParams& s = options.sampling;
  s.temperature = 0.8f;
  s.top_k = 64;
  s.top_p = 0.95f;
  app.add_option("--temp", s.temperature, "temperature; 0 = greedy")
      ->capture_default_str()
      ->check(NumberIn(0, 1e6, "use 0 (greedy) or more"));
  app.add_option("--top-k", s.top_k, "keep the k most likely tokens; 0 = off")
      ->capture_default_str()
      ->check(NumberIn(0, INT_MAX, "use 0 (off) or a number of tokens"));
  app.add_option("--top-p", s.top_p, "nucleus sampling; 1 = off")
      ->capture_default_str()
      ->check(NumberIn(0, 1, "use a probability from 0 to 1 (1: off)"));
  app.add_option("--min-p", s.min_p, "drop tokens below min-p x the best one's probability")
      ->capture_default_str()
      ->check(NumberIn(0, 1, "use a fraction from 0 (off) to 1"));
  app.add_option("--repeat-penalty", s.repetition_penalty, "repetition penalty; 1 = off")
      ->capture_default_str()
      ->check(NumberIn(0, 1e6, "use a number above 0 (1: off; above 1 discourages repeats)",
                       /*low_exclusive=*/true));
  app.add_option("--presence-penalty", s.presence_penalty, "presence penalty; 0 = off")
      ->capture_default_str()
      ->check(NumberIn(-2, 2, "use a number from -2 to 2 (0: off)"));
  app.add_option("--frequency-penalty", s.frequency_penalty, "frequency penalty; 0 = off")
      ->capture_default_str()
      ->check(NumberIn(-2, 2, "use a number from -2 to 2 (0: off)"));
  seed_option = app.add_option("--seed", s.seed,
                               "random seed: the same seed gives the same answer (default: a "
                               "new one each run; --verbose prints it)");
  app.add_option("-n,--n-predict", options.max_tokens,
                 "most tokens to generate; -1: until the end of the turn or the context")
      ->capture_default_str()
      ->check(NumberIn(-1, INT_MAX,
                       "use -1 (until the end of the turn or the context) or a number of tokens"));
}

bool SamplingFlags::Resolve(bool verbose) {
  if (seed_option == nullptr || seed_option->count() == 0) {
    std::random_device device;
    options.sampling.seed = (static_cast<uint64_t>(device()) << 32) | device();
  }
  if (verbose) std::cerr << "seed: " << options.sampling.seed << "\n";
  // The flags' checks cover this already; the library's word is final.
  if (const Status valid = ValidateSamplingParams(options.sampling); !valid.ok()) {
    std::cerr << "error: " << valid.message() << "\n";
    return false;
  }
  return true;
}

}  // namespace gemma::cli
