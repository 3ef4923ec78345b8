// gemma logits: the logits of every position of a token sequence, as raw
// little-endian f32 [tokens, vocab], so anyone can compare us with a reference.
#include <algorithm>
#include <climits>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.h"

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
  return [flags]() {
    std::vector<int32_t> ids;
    if (!ParseIds(flags->tokens, ids)) {
      std::cerr << "error: --tokens must be comma-separated non-negative integers\n";
      return 1;
    }
    std::unique_ptr<Model> model = flags->model.Open();
    if (!model) return 1;
    Session session(*model);
    std::vector<float> logits;
    Status status = session.Append(ids, &logits);
    if (!status.ok()) {
      std::cerr << "error: " << status.message() << "\n";
      return 1;
    }
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
    return 0;
  };
}

}  // namespace gemma::cli
