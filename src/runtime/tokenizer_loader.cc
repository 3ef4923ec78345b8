#include "runtime/tokenizer_loader.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <utility>

#include "base/error.h"
#include "io/model_source.h"
#include "io/paths.h"
#include "model/spec.h"

namespace gemma {
namespace {

// "left right" -> (left, right). Pieces never hold a plain space (spaces are
// U+2581), so anything but exactly one space between two non-empty pieces is
// a malformed entry.
bool SplitMerge(const std::string& merge, std::pair<std::string, std::string>* out) {
  const size_t space = merge.find(' ');
  if (space == std::string::npos || space == 0 || space + 1 == merge.size() ||
      merge.find(' ', space + 1) != std::string::npos) {
    return false;
  }
  *out = {merge.substr(0, space), merge.substr(space + 1)};
  return true;
}

std::string Bounded(const std::string& s) { return s.size() <= 40 ? s : s.substr(0, 40) + "..."; }

}  // namespace

Tokenizer TokenizerFromGguf(const GgufFile& f) {
  const std::string& origin = f.path();
  const GgufValue* tokens = f.Find("tokenizer.ggml.tokens");
  if (tokens == nullptr) Fail(origin, ": no tokenizer in the file (tokenizer.ggml.tokens missing)");
  if (tokens->type != GgufType::kArray || tokens->array_type != GgufType::kString) {
    Fail(origin, ": tokenizer.ggml.tokens should be an array of strings");
  }
  VocabData vocab;
  if (const auto model = f.GetString("tokenizer.ggml.model")) {
    if (*model == "gemma4") {
      vocab.model = TokenizerModel::kGemma4;
    } else if (*model != "llama") {
      Fail(origin, ": tokenizer model '", *model,
           "' is not supported (expected 'llama', SentencePiece BPE, or 'gemma4')");
    }
  }
  const bool gemma4 = vocab.model == TokenizerModel::kGemma4;
  vocab.pieces = tokens->strings;
  const size_t n = vocab.pieces.size();
  auto numbers = [&](const char* key) -> const std::vector<double>* {
    const GgufValue* v = f.Find(key);
    if (v == nullptr) return nullptr;
    if (v->type != GgufType::kArray || v->numbers.size() != n) {
      Fail(origin, ": ", key, " should be a numeric array of ", n, " entries");
    }
    return &v->numbers;
  };
  if (const auto* scores = numbers("tokenizer.ggml.scores")) {
    vocab.scores.assign(scores->begin(), scores->end());
  }
  vocab.types.assign(n, TokenType::kNormal);
  if (const auto* types = numbers("tokenizer.ggml.token_type")) {
    for (size_t i = 0; i < n; ++i) {
      const int t = static_cast<int>((*types)[i]);
      if (t < 1 || t > 6) Fail(origin, ": tokenizer.ggml.token_type[", i, "] = ", t, " is invalid");
      vocab.types[i] = static_cast<TokenType>(t);
    }
  }
  if (gemma4) {
    const GgufValue* merges = f.Find("tokenizer.ggml.merges");
    if (merges == nullptr) {
      Fail(origin, ": tokenizer.ggml.merges is missing (a 'gemma4' vocabulary is BPE with merges)");
    }
    if (merges->type != GgufType::kArray || merges->array_type != GgufType::kString) {
      Fail(origin, ": tokenizer.ggml.merges should be an array of strings \"left right\"");
    }
    vocab.merges.resize(merges->strings.size());
    for (size_t i = 0; i < merges->strings.size(); ++i) {
      if (!SplitMerge(merges->strings[i], &vocab.merges[i])) {
        Fail(origin, ": tokenizer.ggml.merges[", i, "] = \"", Bounded(merges->strings[i]),
             "\" is not two pieces \"left right\"");
      }
    }
  }
  // Gemma 1-3n files without these keys get Gemma's fixed ids, as before. For
  // Gemma 4 no id is assumed (spec 2.3: resolve by string), so a missing key
  // there is resolved from the piece's text.
  auto id = [&](const char* key, int32_t fallback, const char* piece) {
    if (!f.Find(key) && gemma4) {
      const auto it = std::find(vocab.pieces.begin(), vocab.pieces.end(), piece);
      return it == vocab.pieces.end() ? -1 : static_cast<int32_t>(it - vocab.pieces.begin());
    }
    const int64_t v = f.GetInt(key).value_or(fallback);
    if (v < 0 || v >= static_cast<int64_t>(n))
      Fail(origin, ": ", key, " = ", v, " is out of range");
    return static_cast<int32_t>(v);
  };
  vocab.bos_id = id("tokenizer.ggml.bos_token_id", 2, "<bos>");
  vocab.eos_id = id("tokenizer.ggml.eos_token_id", 1, "<eos>");
  vocab.unk_id = id("tokenizer.ggml.unknown_token_id", 3, "<unk>");
  vocab.pad_id = id("tokenizer.ggml.padding_token_id", 0, "<pad>");
  if (f.Find("tokenizer.ggml.eot_token_id") != nullptr) {
    vocab.eot_id = id("tokenizer.ggml.eot_token_id", -1, "");
  }
  vocab.add_space_prefix = f.GetBool("tokenizer.ggml.add_space_prefix").value_or(false);
  return Tokenizer::FromVocab(std::move(vocab), origin, "tokenizer.ggml.merges");
}

Tokenizer LoadTokenizerFile(const std::string& path) {
  namespace fs = std::filesystem;
  // stat() first: a FIFO must not be opened, and a symlink loop or an
  // over-long name is an error message, not a filesystem_error.
  if (StatPath(path) == PathType::kDirectory) {
    const std::string json = (fs::path(path) / "tokenizer.json").string();
    if (StatPath(json) != PathType::kMissing) {
      RequireRegularFile(json, "tokenizer file");
      return Tokenizer::FromTokenizerJson(json);
    }
    const std::string model = (fs::path(path) / "tokenizer.model").string();
    if (StatPath(model) != PathType::kMissing) {
      RequireRegularFile(model, "tokenizer file");
      return Tokenizer::FromSentencePieceModel(model);
    }
    Fail(path, ": no tokenizer.json or tokenizer.model in this folder");
  }
  RequireRegularFile(path, "tokenizer file");
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
    return Tokenizer::FromTokenizerJson(path);
  }
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) {
    GgufFile file(path);
    return TokenizerFromGguf(file);
  }
  return Tokenizer::FromSentencePieceModel(path);
}

Tokenizer LoadTokenizer(const ModelSource& source, const std::string& override_path) {
  if (!override_path.empty()) return LoadTokenizerFile(override_path);
  if (source.format == ModelFormat::kGguf) return TokenizerFromGguf(*source.gguf);
  if (!source.tokenizer_json_path.empty())
    return Tokenizer::FromTokenizerJson(source.tokenizer_json_path);
  if (!source.tokenizer_model_path.empty()) {
    return Tokenizer::FromSentencePieceModel(source.tokenizer_model_path);
  }
  Fail(source.path, ": no tokenizer.json or tokenizer.model in the folder (pass --tokenizer)");
}

std::string TokenizerOrigin(const ModelSource& source, const std::string& override_path) {
  // The same order as LoadTokenizer.
  if (!override_path.empty()) return override_path;
  if (source.format == ModelFormat::kGguf) return source.path + " (GGUF metadata)";
  if (!source.tokenizer_json_path.empty()) return source.tokenizer_json_path;
  return source.tokenizer_model_path;
}

void CheckTokenizerMatchesModel(const Tokenizer& tokenizer, const ModelSpec& spec,
                                const std::string& origin) {
  // Gemma 3's tokenizer.json lists 262,145 pieces (the last, <image_soft_token>,
  // has no row in the text models' 262,144-row embedding), and multimodal
  // checkpoints pad the embedding to 262,208 rows: a difference of a few dozen
  // is normal. Another tokenizer family differs by thousands (256,000 vs
  // 262,144) or has a different size altogether.
  constexpr int kSlack = 128;
  if (std::abs(tokenizer.vocab_size() - spec.vocab_size) > kSlack) {
    Fail(origin, ": the tokenizer has ", tokenizer.vocab_size(),
         " tokens but the model's embedding ", spec.vocab_size,
         " rows: tokenizer and model do not match");
  }
}

}  // namespace gemma
