// Helpers shared by the constrain_*_test.cc files: small hand-made
// vocabularies, running a matcher over bytes or token ids, and the
// mask-versus-single-token consistency check.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "server/constrain/matcher.h"
#include "testing/constrain_vocab.h"
#include "server/constrain/vocab_index.h"
#include "tokenizer/tokenizer.h"

namespace gemma::constrain::test_util {

// Ids: [0] <eos> (end token, control), [1..256] the 256 single bytes (kByte),
// then `texts` (kText) in order, then `controls` (kControl) in order.
struct TestVocab {
  std::shared_ptr<const VocabIndex> index;
  int32_t eos = 0;
  int32_t ByteToken(uint8_t b) const { return 1 + b; }
  int32_t first_text = 257;
  int32_t first_control = 0;
  int32_t Text(size_t i) const { return first_text + static_cast<int32_t>(i); }
  int32_t Control(size_t i) const { return first_control + static_cast<int32_t>(i); }
};

inline TestVocab MakeVocab(const std::vector<std::string>& texts,
                           const std::vector<std::string>& controls = {}) {
  std::vector<std::string> bytes = {"<eos>"};
  std::vector<TokenKind> kinds = {TokenKind::kControl};
  for (int b = 0; b < 256; ++b) {
    bytes.push_back(std::string(1, static_cast<char>(b)));
    kinds.push_back(TokenKind::kByte);
  }
  for (const auto& t : texts) {
    bytes.push_back(t);
    kinds.push_back(TokenKind::kText);
  }
  TestVocab v;
  v.first_control = static_cast<int32_t>(bytes.size());
  for (const auto& c : controls) {
    bytes.push_back(c);
    kinds.push_back(TokenKind::kControl);
  }
  v.index = VocabIndex::Build(std::move(bytes), std::move(kinds), {0});
  return v;
}

// Feeds `text` one byte token at a time; true when every byte is accepted.
inline bool AcceptBytes(Matcher& m, const TestVocab& v, std::string_view text) {
  for (const char c : text) {
    if (!m.Accept(v.ByteToken(static_cast<uint8_t>(c)))) return false;
  }
  return true;
}

// Whether the grammar matches exactly `text` (byte by byte, then can end).
inline bool Matches(const std::shared_ptr<const CompiledGrammar>& g, const TestVocab& v,
                    std::string_view text) {
  Matcher m(g);
  return AcceptBytes(m, v, text) && m.CanEnd();
}

inline bool MaskBit(const std::vector<uint64_t>& mask, int32_t id) {
  return (mask[id >> 6] >> (id & 63)) & 1;
}

// The full mask must agree with the one-token check for every token.
inline ::testing::AssertionResult MaskAgreesWithAllows(Matcher& m) {
  const int32_t n = m.compiled().vocab().size();
  std::vector<uint64_t> mask((n + 63) / 64);
  m.FillMask(mask);
  for (int32_t id = 0; id < n; ++id) {
    const bool allowed = m.Allows(id);
    if (allowed != MaskBit(mask, id)) {
      return ::testing::AssertionFailure()
             << "token " << id << " '" << m.compiled().vocab().bytes(id) << "': Allows says "
             << allowed << ", mask says " << MaskBit(mask, id);
    }
  }
  return ::testing::AssertionSuccess();
}

// The tiny 512-piece SentencePiece test tokenizer (byte fallback, <eos> = 1).
inline std::shared_ptr<const VocabIndex> TinyVocab() {
  static const std::shared_ptr<const VocabIndex> vocab = [] {
    const Tokenizer t = Tokenizer::FromSentencePieceModel(std::string(GEMMA_TEST_DATA_DIR) +
                                                          "/tokenizer/tiny-tokenizer.model");
    return VocabIndexFromTokenizer(t, {t.eos_id()});
  }();
  return vocab;
}

inline const std::string& Gemma3TokenizerPath() {
  static const std::string path =
      std::string(GEMMA_TEST_DATA_DIR) + "/downloads/gemma3/tokenizer.json";
  return path;
}

// The real Gemma 3 vocabulary (262,144 pieces + <image_soft_token>), end
// tokens <eos> and <end_of_turn>; null when scripts/fetch_test_data.sh has not
// been run. Loaded once per test binary.
inline std::shared_ptr<const VocabIndex> Gemma3Vocab() {
  static const std::shared_ptr<const VocabIndex> vocab = []() -> std::shared_ptr<const VocabIndex> {
    std::ifstream probe(Gemma3TokenizerPath());
    if (!probe) return nullptr;
    const Tokenizer t = Tokenizer::FromTokenizerJson(Gemma3TokenizerPath());
    return VocabIndexFromTokenizer(t, {1, 106});
  }();
  return vocab;
}

#define REQUIRE_GEMMA3_VOCAB()                                                           \
  ASSERT_NE(::gemma::constrain::test_util::Gemma3Vocab(), nullptr)                       \
      << ::gemma::constrain::test_util::Gemma3TokenizerPath()                            \
      << " is missing: run scripts/fetch_test_data.sh to download the Gemma 3 tokenizer"

inline std::vector<int32_t> AllowedTokens(Matcher& m) {
  const int32_t n = m.compiled().vocab().size();
  std::vector<uint64_t> mask((n + 63) / 64);
  m.FillMask(mask);
  std::vector<int32_t> out;
  for (int32_t id = 0; id < n; ++id) {
    if (MaskBit(mask, id)) out.push_back(id);
  }
  return out;
}

}  // namespace gemma::constrain::test_util
