// Malformed tokenizer files and vocabularies: always a gemma::Error naming the
// origin, never a crash or an out-of-bounds read (the ASan build runs these).
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "base/error.h"
#include "tokenizer/tokenizer.h"

namespace gemma {
namespace {

const std::string kDataDir = GEMMA_TEST_DATA_DIR;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Expects a gemma::Error whose message names `origin` and contains `what`.
template <typename F>
void ExpectError(F&& f, const std::string& origin, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning: " << what;
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(origin), std::string::npos) << message;
    EXPECT_NE(message.find(what), std::string::npos) << message;
  }
}

void ExpectModelError(const std::string& bytes, const std::string& what) {
  ExpectError([&] { Tokenizer::FromSentencePieceModelBytes(bytes, "bad.model"); }, "bad.model",
              what);
}

void ExpectJsonError(const std::string& text, const std::string& what) {
  ExpectError([&] { Tokenizer::FromTokenizerJsonText(text, "bad.json"); }, "bad.json", what);
}

// Protobuf helpers to write small ModelProtos.
std::string Varint(uint64_t v) {
  std::string out;
  do {
    out.push_back(static_cast<char>((v & 0x7F) | (v > 0x7F ? 0x80 : 0)));
    v >>= 7;
  } while (v != 0);
  return out;
}
std::string Field(int number, const std::string& payload) {
  return Varint(static_cast<uint64_t>(number) << 3 | 2) + Varint(payload.size()) + payload;
}
std::string VarintField(int number, uint64_t v) {
  return Varint(static_cast<uint64_t>(number) << 3) + Varint(v);
}
std::string Piece(const std::string& text, int type = 1) {
  return Field(1, Field(1, text) + VarintField(3, static_cast<uint64_t>(type)));
}
std::string Bpe() { return Field(2, VarintField(3, 2)); }

TEST(TokenizerMalformed, MissingFiles) {
  ExpectError([] { Tokenizer::FromSentencePieceModel("/nonexistent/tokenizer.model"); },
              "/nonexistent/tokenizer.model", "");
  ExpectError([] { Tokenizer::FromTokenizerJson("/nonexistent/tokenizer.json"); },
              "/nonexistent/tokenizer.json", "");
}

TEST(TokenizerMalformed, SentencePieceModel) {
  ExpectModelError("", "no pieces");
  ExpectModelError("\x0a", "truncated varint");
  ExpectModelError(
      "\x0a\x05"
      "ab",
      "runs past the end");
  ExpectModelError(std::string("\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 12),
                   "varint longer");
  ExpectModelError(std::string("\x00\x01", 2), "invalid field number");
  ExpectModelError("\x0b", "wire type");                                 // group
  ExpectModelError(Piece("a") + Field(2, "\x1a\x01\x02"), "wire type");  // model_type as bytes
  ExpectModelError(Piece("a"), "without trainer_spec");
  ExpectModelError(Piece("a") + Field(2, VarintField(3, 1)), "UNIGRAM");
  ExpectModelError(Piece("a", 9) + Bpe(), "unknown type 9");
  ExpectModelError(Field(1, "\x15\x01\x02"), "truncated 32-bit");
  ExpectModelError(Piece("a") + Bpe() + Field(3, Field(2, "charsmap")), "normalization");
  // A minimal valid model.
  const Tokenizer t =
      Tokenizer::FromSentencePieceModelBytes(Piece("<unk>", 2) + Piece("a") + Piece("b") +
                                                 Piece("ab") + Bpe() + Field(3, VarintField(3, 0)),
                                             "ok.model");
  EXPECT_EQ(t.Encode("abba"), (std::vector<int32_t>{3, 2, 1}));
  EXPECT_EQ(t.Encode("xa"), (std::vector<int32_t>{0, 1}));  // no byte fallback: unk
}

// Loads `bytes` as a tokenizer.model: either a gemma::Error naming the
// origin, or a tokenizer that encodes and decodes without trouble. Returns
// whether it loaded.
bool LoadsOrFailsCleanly(const std::string& bytes) {
  try {
    const Tokenizer t = Tokenizer::FromSentencePieceModelBytes(bytes, "damaged.model");
    for (const bool special : {true, false}) {
      const auto ids = t.Encode("The licence <start_of_turn><bos> \xFF é 日本  ", special);
      for (const int32_t id : ids) EXPECT_TRUE(id >= 0 && id < t.vocab_size());
      (void)t.Decode(ids, special);
    }
    return true;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("damaged.model"), std::string::npos) << e.what();
    return false;
  }
}

// Truncations (almost all invalid: only a cut at a top-level field boundary
// after the trainer spec is still a model) and random corruptions.
TEST(TokenizerMalformed, CorruptedModelFile) {
  const std::string good = ReadFile(kDataDir + "/tokenizer/tiny-tokenizer.model");
  ASSERT_GT(good.size(), 1000u);
  int loaded = 0;
  for (size_t n = 0; n < good.size(); ++n) loaded += LoadsOrFailsCleanly(good.substr(0, n));
  EXPECT_LE(loaded, 2);
  std::mt19937 rng(1);
  loaded = 0;
  for (int iter = 0; iter < 500; ++iter) {
    std::string bad = good;
    for (int k = 0; k < 3; ++k) bad[rng() % bad.size()] = static_cast<char>(rng());
    loaded += LoadsOrFailsCleanly(bad);
  }
  EXPECT_GT(loaded, 0);
}

TEST(TokenizerMalformed, TokenizerJson) {
  const std::string ok_model =
      R"("model": {"type": "BPE", "vocab": {"<unk>": 0, "a": 1, "b": 2, "ab": 3}, "merges": [["a", "b"]], "unk_token": "<unk>"})";
  // Sanity: the base document loads.
  const Tokenizer t = Tokenizer::FromTokenizerJsonText("{" + ok_model + "}", "ok.json");
  EXPECT_EQ(t.Encode("abab"), (std::vector<int32_t>{3, 3}));
  EXPECT_EQ(t.Encode("ba"), (std::vector<int32_t>{2, 1}));

  ExpectJsonError("", "invalid JSON");
  ExpectJsonError("{\"model\": ", "invalid JSON");
  ExpectJsonError("[]", "not an object");
  ExpectJsonError("{}", "\"model\"");
  ExpectJsonError(R"({"model": {"type": "Unigram", "vocab": {}}})", "model.type");
  ExpectJsonError(R"({"model": {"type": "BPE"}})", "model.vocab");
  ExpectJsonError(R"({"model": {"type": "BPE", "vocab": {}}})", "empty");
  ExpectJsonError(R"({"model": {"vocab": {"a": "x"}}})", "not an integer");
  ExpectJsonError(R"({"model": {"vocab": {"a": 5}}})", "out of range");
  ExpectJsonError(R"({"model": {"vocab": {"a": -1}}})", "out of range");
  ExpectJsonError(R"({"model": {"vocab": {"a": 4000000000}}})", "out of range");
  ExpectJsonError(R"({"model": {"vocab": {"a": 0, "b": 0}}})", "used by both");
  ExpectJsonError(R"({"model": {"vocab": {"a": 0}, "merges": [["a", "c"]]}})",
                  "not in the vocabulary");
  ExpectJsonError(R"({"model": {"vocab": {"a": 0}, "merges": ["a"]}})", "model.merges[0]");
  ExpectJsonError(R"({"model": {"vocab": {"a": 0}, "merges": [1]}})", "model.merges[0]");
  ExpectJsonError(R"({"model": {"vocab": {"a": 0}, "merges": {}}})", "not an array");
  ExpectJsonError(R"({"model": {"vocab": {"a": 0}, "byte_fallback": 1}})", "not a boolean");
  ExpectJsonError(R"({"model": {"vocab": {"a": 0}, "end_of_word_suffix": "</w>"}})",
                  "end_of_word_suffix");
  ExpectJsonError("{" + ok_model + R"(, "normalizer": {"type": "NFKC"}})", "normalizer type");
  ExpectJsonError("{" + ok_model + R"(, "normalizer": 3})", "normalizer");
  ExpectJsonError("{" + ok_model + R"(, "pre_tokenizer": {"type": "ByteLevel"}})", "pre_tokenizer");
  ExpectJsonError("{" + ok_model + R"(, "added_tokens": {}})", "added_tokens");
  ExpectJsonError("{" + ok_model + R"(, "added_tokens": [{"content": "x"}]})", "added_tokens[0]");
  ExpectJsonError("{" + ok_model + R"(, "added_tokens": [{"id": 99, "content": "x"}]})",
                  "out of range");
  ExpectJsonError(
      "{" + ok_model + R"(, "added_tokens": [{"id": 1, "content": "x", "special": "yes"}]})",
      "special");
  // Deep nesting is rejected or parsed without blowing the stack.
  EXPECT_THROW(Tokenizer::FromTokenizerJsonText(std::string(100000, '[') + std::string(100000, ']'),
                                                "deep.json"),
               Error);
}

TEST(TokenizerMalformed, VocabData) {
  auto expect = [](VocabData v, const std::string& what) {
    ExpectError([&] { Tokenizer::FromVocab(std::move(v)); }, "vocabulary", what);
  };
  expect(VocabData{}, "empty");
  VocabData v;
  v.pieces = {"<pad>", "<eos>", "<bos>", "<unk>", "a"};
  v.types.assign(5, TokenType::kNormal);
  VocabData bad = v;
  bad.types.pop_back();
  expect(bad, "token types");
  bad = v;
  bad.scores = {1.0f};
  expect(bad, "scores");
  bad = v;
  bad.types[4] = static_cast<TokenType>(42);
  expect(bad, "invalid type 42");
  bad = v;
  bad.bos_id = 5;
  expect(bad, "bos id 5");
  bad = v;
  bad.merges = {{"a", "z"}};
  expect(bad, "not in the vocabulary");
  // Scores may be empty; unk -1 with no byte pieces drops unknown text.
  v.unk_id = -1;
  const Tokenizer t = Tokenizer::FromVocab(v);
  EXPECT_EQ(t.Encode("aza"), (std::vector<int32_t>{4, 4}));
}

}  // namespace
}  // namespace gemma
