// Writes a random-weight GGUF model at the real shapes of a Hugging Face
// config.json, as `gemma quantize` would write that checkpoint: the same
// tensors, names, metadata and per-tensor types, so that the peers
// (llama.cpp, ik_llama.cpp) load it too. For speed and memory comparisons at
// sizes whose weights cannot be had here (bench/configs/: Gemma 4 E2B and
// 26B-A4B); nothing is read but the config and the tokenizer, and the file is
// streamed (a 26B model needs no more memory than a piece of one tensor).
//
//   make_random_model --config bench/configs/gemma4-e2b.json
//     --tokenizer tests/data/downloads/gemma3/tokenizer.json --type q8_0 --out e2b.q8_0.gguf
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <string>

#include "base/error.h"
#include "runtime/quantize.h"

int main(int argc, char** argv) {
  CLI::App app{"Random-weight GGUF model at the shapes of a config.json"};
  std::string config, tokenizer, output, type = "q8_0";
  uint64_t seed = 1;
  int threads = 0;
  app.add_option("--config", config, "config.json (a text decoder's, or with text_config)")
      ->required();
  app.add_option("--tokenizer", tokenizer,
                 "tokenizer.json or tokenizer.model with the config's vocab_size pieces")
      ->required();
  app.add_option("--out", output, "the GGUF file to write")->required();
  app.add_option("--type", type, "q8_0, q4_0, q4_k_m, bf16, ... (as gemma quantize)");
  app.add_option("--seed", seed, "the values depend on it alone");
  app.add_option("-t,--threads", threads, "0: one per core");
  CLI11_PARSE(app, argc, argv);
  try {
    gemma::WriteRandomModel(
        config, tokenizer, output, type, seed, threads, [](const gemma::QuantizeProgress& p) {
          // A line per tenth of the tensors.
          if (p.tensors_done * 10 / p.tensors_total ==
              (p.tensors_done - 1) * 10 / p.tensors_total) {
            return;
          }
          std::fprintf(stderr, "[%zu/%zu] %.1f MiB written\n", p.tensors_done, p.tensors_total,
                       static_cast<double>(p.bytes_out) / (1 << 20));
        });
  } catch (const gemma::Error& e) {
    std::fprintf(stderr, "\nmake_random_model: %s\n", e.what());
    return 1;
  }
  return 0;
}
