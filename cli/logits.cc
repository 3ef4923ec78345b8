// gemma logits: the logits of every position of a token sequence, as raw
// little-endian f32 [tokens, vocab], so anyone can compare us with a reference;
// with --dump-stages / --compare-hidden, the forward pass's intermediates too,
// to trace a difference to the step where it begins.
#include <algorithm>
#include <climits>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "stage_dump.h"

namespace gemma::cli {
namespace {

bool ParseIds(const std::string& text, std::vector<int32_t>& ids) {
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      const long value = std::stol(item, &used);
      if (used != item.size() || value < 0 || value > INT32_MAX) return false;
      ids.push_back(static_cast<int32_t>(value));
    } catch (const std::exception&) {
      return false;
    }
  }
  return !ids.empty();
}

}  // namespace

Command RegisterLogits(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    std::string tokens;
    std::string out;
    int greedy = 0;
    std::string dump_stages;
    std::string compare_hidden;
    double hidden_tolerance = 1e-4;
  };
  auto flags = std::make_shared<Flags>();
  flags->model.Register(app);
  app.add_option("--tokens", flags->tokens, "comma-separated token ids, e.g. 2,651,1234")
      ->required();
  app.add_option("--out", flags->out, "file for the logits (raw little-endian f32)")->required();
  app.add_option("--greedy", flags->greedy,
                 "then decode N tokens greedily through the KV cache; their ids are printed "
                 "space-separated as the last line")
      ->check(NumberIn(0, INT_MAX, "use 0 (none) or a number of tokens"));
  app.add_option(
      "--dump-stages", flags->dump_stages,
      "also write every intermediate of the prompt's forward pass (per layer: "
      "attn_norm, q, k, v, attn, attn_out, ffn_norm, ffn_hidden, ffn_out, layer_out, ...) "
      "to this folder as raw f32, listed in its stages.json (docs/debugging.md)");
  app.add_option("--compare-hidden", flags->compare_hidden,
                 "compare the residual stream with a reference's, raw f32 [stages, tokens, "
                 "hidden]: the embedding, each layer's output, then (optionally) the final norm's "
                 "output; prints each stage's difference and exits 2 if one is above "
                 "--hidden-tolerance");
  app.add_option("--hidden-tolerance", flags->hidden_tolerance,
                 "largest difference --compare-hidden accepts, relative to the stage's largest "
                 "value (default 1e-4)")
      ->check(NumberIn(0, 1e30, "use a non-negative number"));
  return [flags]() {
    std::vector<int32_t> ids;
    if (!ParseIds(flags->tokens, ids)) {
      std::cerr << "error: --tokens must be comma-separated non-negative integers\n";
      return 1;
    }
    std::unique_ptr<Model> model = flags->model.Open();
    if (!model) return 1;
    Session session(*model);
    StageRecorder stages;
    const bool record = !flags->dump_stages.empty() || !flags->compare_hidden.empty();
    if (record) session.set_stage_observer([&](const StageValues& v) { stages.Observe(v); });
    std::vector<float> logits;
    Status status = session.Append(ids, &logits);
    if (!status.ok()) {
      std::cerr << "error: " << status.message() << "\n";
      return 1;
    }
    session.set_stage_observer(nullptr);  // the prompt's stages only
    std::ofstream out(flags->out, std::ios::binary);
    out.write(reinterpret_cast<const char*>(logits.data()),
              static_cast<std::streamsize>(logits.size() * sizeof(float)));
    out.close();
    if (!out) {
      std::cerr << "error: cannot write " << flags->out << "\n";
      return 1;
    }
    std::cout << "wrote " << ids.size() << " x " << model->info().vocab_size << " logits to "
              << flags->out << "\n";
    if (!flags->dump_stages.empty()) {
      const std::string error = stages.Write(flags->dump_stages);
      if (!error.empty()) {
        std::cerr << "error: " << error << "\n";
        return 1;
      }
      std::cout << "wrote " << stages.stages().size() << " stages to " << flags->dump_stages
                << "/stages.json\n";
    }
    const int exit_code =
        flags->compare_hidden.empty()
            ? 0
            : stages.CompareHidden(flags->compare_hidden, model->info().num_layers,
                                   flags->hidden_tolerance, std::cout, std::cerr);
    if (exit_code == 1) return 1;
    if (flags->greedy > 0) {
      std::vector<int32_t> generated;
      for (int i = 0; i < flags->greedy; ++i) {
        const std::span<const float> l = session.logits();
        const int32_t next = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
        generated.push_back(next);
        if (i + 1 == flags->greedy) break;
        status = session.Append(std::span<const int32_t>(&next, 1));
        if (!status.ok()) {
          std::cerr << "error: " << status.message() << "\n";
          return 1;
        }
      }
      for (size_t i = 0; i < generated.size(); ++i) std::cout << (i ? " " : "") << generated[i];
      std::cout << "\n";
    }
    return exit_code;
  };
}

}  // namespace gemma::cli
