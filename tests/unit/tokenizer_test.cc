// Tokenizer on the tiny SentencePiece model (tests/data/tokenizer/
// tiny-tokenizer.model, vocab 512, BPE, byte fallback): reference ids from the
// golden prompts and from SentencePiece's own spm_encode, the VocabData (GGUF)
// path, decoding, streaming decode of split characters and invalid UTF-8.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "base/error.h"
#include "runtime/tokenizer_loader.h"

namespace gemma {
namespace {

const std::string kDataDir = GEMMA_TEST_DATA_DIR;
const std::string kTinyModel = kDataDir + "/tokenizer/tiny-tokenizer.model";

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

const Tokenizer& Tiny() {
  static const Tokenizer tokenizer = Tokenizer::FromSentencePieceModel(kTinyModel);
  return tokenizer;
}

std::string Concat(const Tokenizer& t, const std::vector<int32_t>& ids) {
  std::string out;
  for (const int32_t id : ids) out += t.TokenBytes(id);
  return out;
}

bool HasControlString(const std::string& text) {
  for (const char* s : {"<pad>", "<eos>", "<bos>", "<unk>"}) {
    if (text.find(s) != std::string::npos) return true;
  }
  return false;
}

struct TinyCase {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<TinyCase> TinyCases() {
  const nlohmann::json doc = ReadJson(kDataDir + "/tokenizer/tiny-cases.json");
  std::vector<TinyCase> cases;
  for (const auto& c : doc.at("cases")) {
    cases.push_back({c.at("text").get<std::string>(), c.at("ids").get<std::vector<int32_t>>()});
  }
  return cases;
}

TEST(TokenizerTiny, Metadata) {
  const Tokenizer& t = Tiny();
  EXPECT_EQ(t.vocab_size(), 512);
  EXPECT_EQ(t.bos_id(), 2);
  EXPECT_EQ(t.eos_id(), 1);
  EXPECT_EQ(t.unk_id(), 3);
  EXPECT_EQ(t.pad_id(), 0);
  EXPECT_EQ(t.PieceToId("<start_of_turn>"), 4);
  EXPECT_EQ(t.PieceToId("<end_of_turn>"), 5);
  EXPECT_EQ(t.PieceToId("<0x0A>"), 16);
  EXPECT_EQ(t.PieceToId("no such piece"), -1);
  EXPECT_EQ(t.Type(2), TokenType::kControl);
  EXPECT_EQ(t.Type(3), TokenType::kUnknown);
  EXPECT_EQ(t.Type(4), TokenType::kUserDefined);
  EXPECT_EQ(t.Type(16), TokenType::kByte);
  EXPECT_EQ(t.Type(280), TokenType::kNormal);
  EXPECT_EQ(t.IdToPiece(280), "\xE2\x96\x81the");
  EXPECT_EQ(t.TokenBytes(280), " the");
  EXPECT_EQ(t.TokenBytes(16), "\n");
  EXPECT_EQ(t.TokenBytes(5), "<end_of_turn>");
  // Out-of-range ids are harmless.
  EXPECT_EQ(t.IdToPiece(-1), "");
  EXPECT_EQ(t.IdToPiece(512), "");
  EXPECT_EQ(t.TokenBytes(100000), "");
  EXPECT_EQ(t.Type(-5), TokenType::kUnknown);
  EXPECT_EQ(t.Decode({-1, 512, 280}), " the");
}

// Every reference pair: golden prompts (the engine's reference inputs) and
// spm_encode output. SentencePiece never matches control pieces in text, i.e.
// it behaves like parse_special=false; without control strings in the text
// both modes must agree.
TEST(TokenizerTiny, ReferenceIds) {
  const Tokenizer& t = Tiny();
  const auto cases = TinyCases();
  ASSERT_GE(cases.size(), 30u);
  int passed = 0;
  for (const auto& c : cases) {
    const auto literal = t.Encode(c.text, /*parse_special=*/false);
    EXPECT_EQ(literal, c.ids) << "text: " << c.text;
    if (!HasControlString(c.text)) {
      EXPECT_EQ(t.Encode(c.text), c.ids) << "text: " << c.text;
    }
    // U+2581 in the text is SentencePiece's space and decodes as one.
    std::string expected = c.text;
    for (size_t k; (k = expected.find("\xE2\x96\x81")) != std::string::npos;) {
      expected.replace(k, 3, " ");
    }
    EXPECT_EQ(t.Decode(c.ids, /*keep_special=*/true), expected);
    passed += literal == c.ids;
  }
  EXPECT_EQ(passed, static_cast<int>(cases.size()));
}

TEST(TokenizerTiny, GoldenPrompt) {
  const nlohmann::json golden = ReadJson(kDataDir + "/tokenizer/tiny-cases.json");
  const auto& first = golden.at("cases").at(0);
  ASSERT_NE(first.at("source").get<std::string>().find("golden"), std::string::npos);
  std::vector<int32_t> ids = {Tiny().bos_id()};
  const auto body = Tiny().Encode(first.at("text").get<std::string>());
  ids.insert(ids.end(), body.begin(), body.end());
  ASSERT_EQ(ids.size(), 54u);
  EXPECT_EQ(std::vector<int32_t>(ids.begin() + 1, ids.end()),
            first.at("ids").get<std::vector<int32_t>>());
}

TEST(TokenizerTiny, SpecialTokens) {
  const Tokenizer& t = Tiny();
  EXPECT_EQ(t.Encode("<bos><start_of_turn>"), (std::vector<int32_t>{2, 4}));
  // Literal mode: control pieces are text, user-defined ones stay atomic.
  const auto literal = t.Encode("<bos><start_of_turn>", false);
  EXPECT_EQ(std::count(literal.begin(), literal.end(), 2), 0);
  EXPECT_EQ(literal.back(), 4);
  // <start_of_turn> is user-defined in this model (not control), so printed.
  EXPECT_EQ(t.Decode(literal), "<bos><start_of_turn>");
  // Control tokens vanish from ordinary decoding.
  EXPECT_EQ(t.Decode({2, 280, 1}), " the");
  EXPECT_EQ(t.Decode({2, 280, 1}, true), "<bos> the<eos>");
  EXPECT_TRUE(t.IsSpecial(2));
  EXPECT_TRUE(t.IsSpecial(3));
  EXPECT_FALSE(t.IsSpecial(4));
  EXPECT_FALSE(t.IsSpecial(280));
}

// The VocabData path (how the GGUF loader hands over the vocabulary) on the
// same pieces, scores and types gives the same ids.
TEST(TokenizerTiny, VocabDataMatchesModelFile) {
  const VocabData& source = Tiny().vocab();
  VocabData v;
  v.pieces = source.pieces;
  v.scores = source.scores;
  v.types = source.types;
  const Tokenizer from_vocab = Tokenizer::FromVocab(std::move(v));
  for (const auto& c : TinyCases()) {
    EXPECT_EQ(from_vocab.Encode(c.text, false), c.ids) << c.text;
  }
}

// The golden GGUF files carry the same vocabulary as written by llama.cpp's
// converter; read through the engine's GGUF tokenizer loader.
TEST(TokenizerTiny, GgufVocabularyMatchesModelFile) {
  const std::string gguf = kDataDir + "/golden/gemma3_qknorm/gguf/gemma3_qknorm.f32.gguf";
  if (!std::ifstream(gguf)) GTEST_SKIP() << "no golden GGUF at " << gguf;
  const Tokenizer t = LoadTokenizerFile(gguf);
  ASSERT_EQ(t.vocab_size(), 512);
  for (const auto& c : TinyCases()) {
    // The converter stores the user-defined turn markers as NORMAL pieces,
    // so those texts are not comparable.
    if (c.text.find("_of_turn>") != std::string::npos) continue;
    EXPECT_EQ(t.Encode(c.text, false), c.ids) << c.text;
  }
}

TEST(TokenizerTiny, EmptyAndWhitespace) {
  const Tokenizer& t = Tiny();
  EXPECT_TRUE(t.Encode("").empty());
  EXPECT_EQ(t.Decode({}), "");
  EXPECT_EQ(t.Decode(t.Encode(" ")), " ");
  EXPECT_EQ(t.Decode(t.Encode("\n\t \n")), "\n\t \n");
}

// Invalid UTF-8 goes through byte fallback, byte for byte.
TEST(TokenizerTiny, InvalidUtf8Input) {
  const Tokenizer& t = Tiny();
  const std::string bad =
      std::string("ok \xFF\xFE x \xE2\x96 y \xC0\xAF z \xED\xA0\x80 \xF4\x90\x80\x80 ") + "end\xE2";
  const auto ids = t.Encode(bad);
  EXPECT_EQ(Concat(t, ids), bad);
  for (const int32_t id : ids) EXPECT_NE(id, t.unk_id());
  const std::string decoded = t.Decode(ids);
  EXPECT_EQ(decoded.substr(0, 3), "ok ");
  EXPECT_NE(decoded.find("\xEF\xBF\xBD"), std::string::npos);
  EXPECT_EQ(decoded.substr(decoded.size() - 6), "end\xEF\xBF\xBD");
}

// Maximal-subpart replacement: one U+FFFD per ill-formed subsequence.
TEST(TokenizerTiny, DecodeInvalidBytes) {
  const Tokenizer& t = Tiny();
  auto byte = [&](int b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    return t.PieceToId(name);
  };
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(t.Decode({byte(0xE2), byte(0x82), byte(0xAC)}), "\xE2\x82\xAC");
  EXPECT_EQ(t.Decode({byte(0xE2), byte(0x82)}), r);                      // truncated
  EXPECT_EQ(t.Decode({byte(0xE2), byte(0x82), 280}), r + " the");        // cut by a piece
  EXPECT_EQ(t.Decode({byte(0x80), byte(0x80)}), r + r);                  // stray continuations
  EXPECT_EQ(t.Decode({byte(0xC0), byte(0xAF)}), r + r);                  // overlong
  EXPECT_EQ(t.Decode({byte(0xED), byte(0xA0), byte(0x80)}), r + r + r);  // surrogate
  EXPECT_EQ(t.Decode({byte(0xF0), byte(0x9F), byte(0x98), byte(0x80)}), "\xF0\x9F\x98\x80");
}

// Random strings of tricky fragments: the token bytes reproduce the input and
// decoding returns it (no U+2581 in the alphabet, since that decodes to " ").
TEST(TokenizerTiny, RandomRoundTrip) {
  const Tokenizer& t = Tiny();
  const std::vector<std::string> alphabet = {"a",
                                             "the",
                                             " ",
                                             "  ",
                                             "\n",
                                             "\t",
                                             "<",
                                             ">",
                                             "<start_of_turn>",
                                             "<end_of_turn>",
                                             "<bos>",
                                             "é",
                                             "日本",
                                             "😀",
                                             "\xF0\x9F",
                                             "\xFF",
                                             "\x80",
                                             "0",
                                             "123",
                                             "ß",
                                             "licence",
                                             std::string(1, '\0')};
  std::mt19937 rng(7);
  for (int iter = 0; iter < 500; ++iter) {
    std::string text;
    const int n = static_cast<int>(rng() % 20);
    for (int k = 0; k < n; ++k) text += alphabet[rng() % alphabet.size()];
    for (const bool special : {true, false}) {
      const auto ids = t.Encode(text, special);
      ASSERT_EQ(Concat(t, ids), text);
      for (const int32_t id : ids) ASSERT_TRUE(id >= 0 && id < t.vocab_size());
    }
  }
}

TEST(TokenizerTiny, StreamingDecodeSplitsCharacters) {
  const Tokenizer& t = Tiny();
  const std::string text = "Grüße 日本語 😀 the end";
  const auto ids = t.Encode(text);
  StreamingDecoder decoder(t);
  std::string streamed;
  bool held_back = false;
  for (const int32_t id : ids) {
    const std::string piece = decoder.Push(id);
    // Whatever comes out is complete UTF-8.
    EXPECT_EQ(t.Decode(t.Encode(piece)), piece);
    if (piece.empty()) held_back = true;
    streamed += piece;
  }
  streamed += decoder.Flush();
  EXPECT_TRUE(held_back) << "the CJK characters should need byte tokens in the tiny vocabulary";
  EXPECT_EQ(streamed, text);
  EXPECT_EQ(t.Decode(ids), text);
}

TEST(TokenizerTiny, StreamingDecodeInvalid) {
  const Tokenizer& t = Tiny();
  const int32_t e2 = t.PieceToId("<0xE2>");
  const int32_t x82 = t.PieceToId("<0x82>");
  const int32_t ac = t.PieceToId("<0xAC>");
  StreamingDecoder d(t);
  EXPECT_EQ(d.Push(e2), "");
  EXPECT_EQ(d.Push(x82), "");
  EXPECT_EQ(d.Push(ac), "\xE2\x82\xAC");
  EXPECT_EQ(d.Push(e2), "");
  EXPECT_EQ(d.Push(280), "\xEF\xBF\xBD the");  // incomplete char cut by a piece
  EXPECT_EQ(d.Push(x82), "\xEF\xBF\xBD");      // stray continuation byte
  EXPECT_EQ(d.Push(2), "");                    // control tokens print nothing
  EXPECT_EQ(d.Push(-7), "");
  EXPECT_EQ(d.Push(e2), "");
  EXPECT_EQ(d.Flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(d.Flush(), "");
}

}  // namespace
}  // namespace gemma
