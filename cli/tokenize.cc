// gemma tokenize: text -> ids, one text or JSON lines on stdin.
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "gemma/tools.h"

namespace gemma::cli {
namespace {

std::string IdsToJson(const std::vector<int32_t>& ids) {
  return nlohmann::json{{"ids", ids}}.dump();
}

}  // namespace

Command RegisterTokenize(CLI::App& app) {
  struct Flags {
    std::string path;
    std::string text;
    bool jsonl = false;
    bool bos = false;
    bool literal = false;
  };
  auto flags = std::make_shared<Flags>();
  app.add_option("-m,--model", flags->path,
                 "model (.gguf, HF folder) or tokenizer (tokenizer.json, tokenizer.model)")
      ->required();
  app.add_option("-p,--prompt,text", flags->text, "text to tokenize");
  app.add_flag("--jsonl", flags->jsonl,
               "read {\"text\": ...} JSON lines on stdin, write {\"ids\": [...]} lines");
  app.add_flag("--bos", flags->bos, "prepend BOS");
  app.add_flag("--literal", flags->literal, "do not turn <start_of_turn> etc. into control tokens");
  return [flags]() {
    auto opened = TextTokenizer::Open(flags->path);
    if (!opened.ok()) {
      std::cerr << "error: " << opened.status().message() << "\n";
      return 1;
    }
    const TextTokenizer& tokenizer = **opened;
    {
      auto encode = [&](const std::string& text) {
        std::vector<int32_t> ids;
        if (flags->bos) ids.push_back(tokenizer.bos_id());
        const std::vector<int32_t> body = tokenizer.Encode(text, !flags->literal);
        ids.insert(ids.end(), body.begin(), body.end());
        return ids;
      };
      if (!flags->jsonl) {
        const std::vector<int32_t> ids = encode(flags->text);
        for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
        std::cout << "\n";
        return 0;
      }
      std::string line;
      int line_number = 0;
      int errors = 0;
      while (std::getline(std::cin, line)) {
        ++line_number;
        if (line.empty()) continue;
        const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("text") || !j["text"].is_string()) {
          std::cerr << "error: line " << line_number << ": expected {\"text\": \"...\"}\n";
          std::cout << nlohmann::json{{"error", "expected {\"text\": ...}"}}.dump() << "\n";
          ++errors;
          continue;
        }
        std::cout << IdsToJson(encode(j["text"].get<std::string>())) << "\n";
      }
      return errors == 0 ? 0 : 1;
    }
  };
}

}  // namespace gemma::cli
