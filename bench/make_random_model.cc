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
//
// --layers N keeps the first N layers of the config (its layer_types cut to
// match), for a model whose full depth does not fit the machine: each layer
// keeps its real widths, so per-token speed scales with the depth.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"
#include "runtime/quantize.h"

namespace {

// The config cut to its first `layers` layers, written next to `output`;
// returns its path.
std::string CutConfig(const std::string& config_path, int layers, const std::string& output) {
  std::ifstream in(config_path);
  if (!in) throw gemma::Error(config_path + ": cannot be read");
  nlohmann::json config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    throw gemma::Error(config_path + ": not a JSON object");
  }
  nlohmann::json& text = config.contains("text_config") ? config["text_config"] : config;
  const auto& depth = text["num_hidden_layers"];
  if (!depth.is_number_integer() || layers < 1 || layers > depth.get<int>()) {
    throw gemma::Error("--layers " + std::to_string(layers) + ": the config has " + depth.dump() +
                       " layers");
  }
  // Layers that read an earlier layer's KV are counted from the end: cutting
  // the depth would change which layers those are.
  if (text.value("num_kv_shared_layers", 0) != 0 && layers != depth.get<int>()) {
    throw gemma::Error("--layers: the config shares KV between its last layers; keep them all");
  }
  text["num_hidden_layers"] = layers;
  if (text.contains("layer_types") && text["layer_types"].is_array()) {
    nlohmann::json& types = text["layer_types"];
    types.erase(types.begin() + layers, types.end());
  }
  const std::string cut = output + ".config.json";
  std::ofstream(cut) << config.dump(2);
  return cut;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Random-weight GGUF model at the shapes of a config.json"};
  std::string config, tokenizer, output, type = "q8_0";
  uint64_t seed = 1;
  int threads = 0, layers = 0;
  app.add_option("--config", config, "config.json (a text decoder's, or with text_config)")
      ->required();
  app.add_option("--tokenizer", tokenizer,
                 "tokenizer.json or tokenizer.model with the config's vocab_size pieces")
      ->required();
  app.add_option("--out", output, "the GGUF file to write")->required();
  app.add_option("--type", type, "q8_0, q4_0, q4_k_m, bf16, ... (as gemma quantize)");
  app.add_option("--seed", seed, "the values depend on it alone");
  app.add_option("-t,--threads", threads, "0: one per core");
  app.add_option("--layers", layers, "keep the first N layers (0: all)");
  CLI11_PARSE(app, argc, argv);
  std::string cut_config;
  try {
    if (layers > 0) cut_config = CutConfig(config, layers, output);
    gemma::WriteRandomModel(layers > 0 ? cut_config : config, tokenizer, output, type, seed,
                            threads, [](const gemma::QuantizeProgress& p) {
                              // A line per tenth of the tensors.
                              if (p.tensors_done * 10 / p.tensors_total ==
                                  (p.tensors_done - 1) * 10 / p.tensors_total) {
                                return;
                              }
                              std::fprintf(stderr, "[%zu/%zu] %.1f MiB written\n", p.tensors_done,
                                           p.tensors_total,
                                           static_cast<double>(p.bytes_out) / (1 << 20));
                            });
  } catch (const gemma::Error& e) {
    std::fprintf(stderr, "\nmake_random_model: %s\n", e.what());
    if (!cut_config.empty()) std::filesystem::remove(cut_config);
    return 1;
  }
  if (!cut_config.empty()) std::filesystem::remove(cut_config);
  return 0;
}
