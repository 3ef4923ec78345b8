// Builds the constrained decoder's vocabulary from the engine's tokenizer.
// For tests and benchmarks (the server builds its index through the public
// API, Model::Vocabulary): gemma_constrain itself does not depend on the
// engine.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "server/constrain/vocab_index.h"
#include "tokenizer/tokenizer.h"

namespace gemma::constrain {

// Token bytes as the output contains them (SentencePiece "▁" -> space, byte
// pieces <0xNN> -> that byte); control, unknown and unused pieces become
// kControl (never text); user-defined pieces (newline and space runs, HTML
// tags) are text. end_tokens: the model's end-of-generation ids (Gemma 3:
// <eos> 1 and <end_of_turn> 106).
inline std::shared_ptr<const VocabIndex> VocabIndexFromTokenizer(
    const Tokenizer& tokenizer, std::vector<int32_t> end_tokens) {
  const int32_t n = tokenizer.vocab_size();
  std::vector<std::string> bytes(n);
  std::vector<TokenKind> kinds(n);
  for (int32_t id = 0; id < n; ++id) {
    switch (tokenizer.Type(id)) {
      case TokenType::kByte:
        kinds[id] = tokenizer.TokenBytes(id).size() == 1 ? TokenKind::kByte : TokenKind::kControl;
        break;
      case TokenType::kNormal:
      case TokenType::kUserDefined:
        kinds[id] = TokenKind::kText;
        break;
      default:
        kinds[id] = TokenKind::kControl;
    }
    // For control tokens the piece text: how grammars look them up by name.
    bytes[id] = kinds[id] == TokenKind::kControl ? tokenizer.IdToPiece(id) : tokenizer.TokenBytes(id);
  }
  return VocabIndex::Build(std::move(bytes), std::move(kinds), std::move(end_tokens));
}

}  // namespace gemma::constrain
