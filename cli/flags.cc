#include <filesystem>
#include <iostream>

#include "commands.h"

namespace gemma::cli {

std::string DefaultModelPath() {
  // Next to the binary's source tree (build/ is inside the checkout), or the
  // current directory.
  namespace fs = std::filesystem;
  for (const char* candidate : {"models/tiny-gemma3.gguf", "../models/tiny-gemma3.gguf"}) {
    if (fs::exists(candidate)) return candidate;
  }
  return "models/tiny-gemma3.gguf";
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
  app.add_option("-t,--threads", threads, "threads (default: one per core)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("-c,--ctx", context, "context length (default: the model's, at most 8192)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--kv-type", kv_type,
                 "KV cache element type: auto (f32 for 16/32-bit weights, f16 for quantized), f32, "
                 "f16, bf16, q8_0, q4_0")
      ->capture_default_str();
  app.add_option("-b,--batch-size", batch_size, "prompt tokens per forward step")
      ->capture_default_str()
      ->check(CLI::Range(1, 8192));
  app.add_flag("--exact", exact,
               "f32 activations everywhere (default: 8-bit activations with packed integer "
               "weights on CPUs with AVX2 or AVX-512, as llama.cpp; hi + lo bf16 pairs with "
               "BF16 weights on AVX512_BF16)");
  app.add_option("--simd", simd,
                 "cap the SIMD code path at this target (AVX3_DL, AVX2, SCALAR; default: the best "
                 "the CPU runs, or $GEMMA_SIMD)");
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
  return options;
}

std::string ModelFlags::path() const { return model_path.empty() ? DefaultModelPath() : model_path; }

std::unique_ptr<Model> ModelFlags::Open() const {
  Result<std::unique_ptr<Model>> model = Model::Open(path(), Options());
  if (!model.ok()) {
    std::cerr << "error: " << model.status().message() << "\n";
    return nullptr;
  }
  return std::move(model).value();
}

void SamplingFlags::Register(CLI::App& app) {
  SamplingParams& s = options.sampling;
  s.temperature = 0.8f;
  s.top_k = 64;
  s.top_p = 0.95f;
  app.add_option("--temp", s.temperature, "temperature; 0 = greedy")->capture_default_str();
  app.add_option("--top-k", s.top_k, "keep the k most likely tokens; 0 = off")
      ->capture_default_str();
  app.add_option("--top-p", s.top_p, "nucleus sampling; 1 = off")->capture_default_str();
  app.add_option("--min-p", s.min_p, "drop tokens below min-p x the best one's probability")
      ->capture_default_str();
  app.add_option("--repeat-penalty", s.repetition_penalty, "repetition penalty; 1 = off")
      ->capture_default_str();
  app.add_option("--presence-penalty", s.presence_penalty, "presence penalty; 0 = off")
      ->capture_default_str();
  app.add_option("--frequency-penalty", s.frequency_penalty, "frequency penalty; 0 = off")
      ->capture_default_str();
  app.add_option("--seed", s.seed, "random seed (same seed, same output)")->capture_default_str();
  app.add_option("-n,--n-predict", options.max_tokens, "most tokens to generate")
      ->capture_default_str();
}

}  // namespace gemma::cli
