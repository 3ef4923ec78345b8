// Gemma 4's BPE tokenizer (spec tokenizer-and-prompts.md 2.3, 4.2, 4.3, 6) on
// a small vocabulary built as the spec describes, in both of its formats: a
// tokenizer.json (tests/data/tokenizer/gemma4-tiny-tokenizer.json) and GGUF
// metadata (tokenizer.ggml.model "gemma4", written below from its own table).
// No real Gemma 4 vocabulary is available here; the expected ids were worked
// out by hand from the merge list (see the comments at each case).
//
// The vocabulary (ids deliberately unlike the real Gemma 4 ones, so that
// nothing can pass by assuming ids):
//   0 <pad>  1 <unk>  2 <eos>  3 <bos>  4 <mask>  5 <|tool>  6 <tool|>
//   7 <|tool_call>  8 <tool_call|>  9 <|tool_response>  10 <tool_response|>
//   11 <|"|>  12 <|think|>  13 <|channel>  14 <channel|>  15 <|turn>  16 <turn|>
//   17 + b: <0xHH> for every byte b
//   273 \n  274 \n\n  275 \n\n\n  276 ▁  277 a  278 b  279 c  280 h  281 i
//   282 t  283 u  284 s  285 e  286 r  287 ab  288 bc  289 aa  290 hi  291 ▁h
//   292 ▁hi  293 us  294 er  295 user  296 a\n  297 ▁▁
// Merges, by rank: 0 ▁+h  1 h+i  2 ▁h+i  3 b+c  4 a+b  5 a+a  6 \n+\n  7 u+s
//   8 e+r  9 us+er  10 a+\n  11 ▁+▁
// No merge builds \n\n\n (only the whole-newline-run rule yields it), and a\n
// is unreachable because newline runs are encoded apart.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include "base/error.h"
#include "io/gguf_writer.h"
#include "runtime/tokenizer_loader.h"
#include "tokenizer/tokenizer.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

const std::string kDataDir = GEMMA_TEST_DATA_DIR;
const std::string kJsonPath = kDataDir + "/tokenizer/gemma4-tiny-tokenizer.json";

constexpr int32_t Byte(int b) { return 17 + b; }

// --- The vocabulary as GGUF metadata, from its own table. ---

std::vector<std::string> Pieces() {
  std::vector<std::string> p = {"<pad>",
                                "<unk>",
                                "<eos>",
                                "<bos>",
                                "<mask>",
                                "<|tool>",
                                "<tool|>",
                                "<|tool_call>",
                                "<tool_call|>",
                                "<|tool_response>",
                                "<tool_response|>",
                                "<|\"|>",
                                "<|think|>",
                                "<|channel>",
                                "<channel|>",
                                "<|turn>",
                                "<turn|>"};
  static const char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) p.push_back(std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">");
  for (const char* s :
       {"\n",      "\n\n",     "\n\n\n", "\u2581", "a",    "b",   "c",           "h",  "i",
        "t",       "u",        "s",      "e",      "r",    "ab",  "bc",          "aa", "hi",
        "\u2581h", "\u2581hi", "us",     "er",     "user", "a\n", "\u2581\u2581"}) {
    p.push_back(s);
  }
  return p;
}

std::vector<std::string> MergeStrings() {
  return {"\u2581 h", "h i", "\u2581h i", "b c",   "a b",  "a a",
          "\n \n",    "u s", "e r",       "us er", "a \n", "\u2581 \u2581"};
}

// GGUF token types as llama.cpp's Gemma 4 converter writes them: the channel,
// tool-call and string markers USER_DEFINED (4), the other added tokens
// CONTROL (3), <unk> UNKNOWN (2), byte pieces BYTE (6), the rest NORMAL (1).
std::vector<double> Types(bool markers_visible = true) {
  std::vector<double> t(Pieces().size(), 1);
  for (int i = 0; i <= 16; ++i) t[i] = 3;
  t[1] = 2;
  if (markers_visible) {
    for (int i : {7, 8, 9, 10, 11, 13, 14}) t[i] = 4;
  }
  for (int b = 0; b < 256; ++b) t[Byte(b)] = 6;
  return t;
}

GgufValue Strings(std::vector<std::string> s) {
  GgufValue v;
  v.type = GgufType::kArray;
  v.array_type = GgufType::kString;
  v.array_size = s.size();
  v.strings = std::move(s);
  return v;
}

GgufValue Numbers(GgufType type, std::vector<double> n) {
  GgufValue v;
  v.type = GgufType::kArray;
  v.array_type = type;
  v.array_size = n.size();
  v.numbers = std::move(n);
  return v;
}

class TempDir {
 public:
  TempDir()
      : path_(fs::temp_directory_path() /
              ("gemma_tok4_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// Writes the vocabulary to `path`; `edit` may change or drop keys after the
// defaults are set (GgufWriter keeps the last value of a key).
void WriteGguf(const std::string& path, const std::function<void(GgufWriter&)>& edit = nullptr,
               bool with_ids = true) {
  GgufWriter w;
  w.SetString("general.architecture", "gemma4");
  w.SetString("tokenizer.ggml.model", "gemma4");
  w.SetValue("tokenizer.ggml.tokens", Strings(Pieces()));
  // Scores that would pick other merges if anything ranked by them: higher
  // for lower ids, so "ab" (287) would beat "bc" (288).
  std::vector<double> scores;
  for (size_t i = 0; i < Pieces().size(); ++i) scores.push_back(-static_cast<double>(i));
  w.SetValue("tokenizer.ggml.scores", Numbers(GgufType::kF32, scores));
  w.SetValue("tokenizer.ggml.token_type", Numbers(GgufType::kI32, Types()));
  w.SetValue("tokenizer.ggml.merges", Strings(MergeStrings()));
  if (with_ids) {
    w.SetU32("tokenizer.ggml.bos_token_id", 3);
    w.SetU32("tokenizer.ggml.eos_token_id", 2);
    w.SetU32("tokenizer.ggml.unknown_token_id", 1);
    w.SetU32("tokenizer.ggml.padding_token_id", 0);
  }
  w.SetBool("tokenizer.ggml.add_bos_token", true);
  w.SetBool("tokenizer.ggml.add_space_prefix", false);
  if (edit) edit(w);
  w.Write(path);
}

const Tokenizer& FromJson() {
  static const Tokenizer t = Tokenizer::FromTokenizerJson(kJsonPath);
  return t;
}

const Tokenizer& FromGguf() {
  static const Tokenizer t = [] {
    TempDir dir;
    WriteGguf(dir.File("vocab.gguf"));
    return LoadTokenizerFile(dir.File("vocab.gguf"));
  }();
  return t;
}

// --- Hand-derived cases. ---

struct Case {
  std::string text;
  std::vector<int32_t> special;  // Encode(text, parse_special=true)
  std::vector<int32_t> literal;  // Encode(text, parse_special=false)
};

std::vector<Case> Cases() {
  const std::vector<int32_t> literal_turn = {
      // "<|turn>user": < | t u r n > have no merges (< | n > are no pieces:
      // bytes 0x3C 0x7C 0x6E 0x3E); u+s (7), e+r (8), then us+er (9).
      Byte(0x3C), Byte(0x7C), 282, 283, 286, Byte(0x6E), Byte(0x3E), 295,
      273,  // "\n"
      // "hi<turn|>": h+i (1); < t u r n | > as above.
      290, Byte(0x3C), 282, 283, 286, Byte(0x6E), Byte(0x7C), Byte(0x3E)};
  return {
      {"", {}, {}},
      // h i ▁ h i: ▁+h (rank 0) first, then h+i (1) on the left, then ▁h+i (2).
      {"hi hi", {290, 292}, {290, 292}},
      {" hi", {292}, {292}},
      // h i ▁ ▁ h i: ▁+h (0), h+i (1), ▁h+i (2); ▁+▁ (11) is then stale, so the
      // lone ▁ stays.
      {"hi  hi", {290, 276, 292}, {290, 276, 292}},
      {"  ", {297}, {297}},
      // b+c (rank 3) before a+b (4), although "ab" has the higher GGUF score.
      {"abc", {277, 288}, {277, 288}},
      // Equal ranks: the leftmost pair first.
      {"aaa", {289, 277}, {289, 277}},
      {"aaaa", {289, 289}, {289, 289}},
      // Newline runs: whole when a piece, else BPE by \n+\n leftmost first.
      {"\n", {273}, {273}},
      {"\n\n", {274}, {274}},
      {"\n\n\n", {275}, {275}},
      {"\n\n\n\n", {274, 274}, {274, 274}},
      {"\n\n\n\n\n", {274, 274, 273}, {274, 274, 273}},
      // a+\n exists, but a newline run is encoded apart from the text before it.
      {"a\n", {277, 273}, {277, 273}},
      {"ab\n\n\nhi", {287, 275, 290}, {287, 275, 290}},
      {"hi\n\n a", {290, 274, 276, 277}, {290, 274, 276, 277}},
      {"user", {295}, {295}},
      // Control tokens only with parse_special.
      {"<|turn>user\nhi<turn|>", {15, 295, 273, 290, 16}, literal_turn},
      {"<bos>", {3}, {Byte(0x3C), 278, Byte(0x6F), 284, Byte(0x3E)}},
      // Longest match: <|tool_call> (user-defined) is not <|tool> + "_call>";
      // in literal mode <|tool> (control) is text: < | t o o l >.
      {"<|tool><|tool_call>",
       {5, 7},
       {Byte(0x3C), Byte(0x7C), 282, Byte(0x6F), Byte(0x6F), Byte(0x6C), Byte(0x3E), 7}},
      // User-defined markers are atomic in both modes.
      {"a<|\"|>b", {277, 11, 278}, {277, 11, 278}},
      {"<|channel>hi<channel|>", {13, 290, 14}, {13, 290, 14}},
      {"<|tool_response>", {9}, {9}},
      // Byte fallback: characters without a piece as their UTF-8 bytes.
      {"h\xC3\xA9", {280, Byte(0xC3), Byte(0xA9)}, {280, Byte(0xC3), Byte(0xA9)}},
      {"\xF0\x9F\x98\x8A",
       {Byte(0xF0), Byte(0x9F), Byte(0x98), Byte(0x8A)},
       {Byte(0xF0), Byte(0x9F), Byte(0x98), Byte(0x8A)}},
      {"x", {Byte(0x78)}, {Byte(0x78)}},
  };
}

void ExpectCases(const Tokenizer& t) {
  for (const Case& c : Cases()) {
    EXPECT_EQ(t.Encode(c.text, true), c.special) << "parse_special: \"" << c.text << "\"";
    EXPECT_EQ(t.Encode(c.text, false), c.literal) << "literal: \"" << c.text << "\"";
  }
}

TEST(TokenizerGemma4, TokenizerJsonCases) {
  ASSERT_EQ(FromJson().model(), TokenizerModel::kGemma4);
  ExpectCases(FromJson());
}

TEST(TokenizerGemma4, GgufCases) {
  ASSERT_EQ(FromGguf().model(), TokenizerModel::kGemma4);
  ExpectCases(FromGguf());
}

// The same vocabulary in both formats is the same tokenizer.
TEST(TokenizerGemma4, FormatsAgree) {
  const Tokenizer& json = FromJson();
  const Tokenizer& gguf = FromGguf();
  ASSERT_EQ(json.vocab_size(), 298);
  ASSERT_EQ(gguf.vocab_size(), 298);
  for (int32_t id = 0; id < json.vocab_size(); ++id) {
    EXPECT_EQ(json.IdToPiece(id), gguf.IdToPiece(id)) << id;
    EXPECT_EQ(json.IsSpecial(id), gguf.IsSpecial(id)) << id;
  }
  EXPECT_EQ(json.vocab().merges, gguf.vocab().merges);
}

// The algorithm is what the mode says: the same pieces and merges as a
// SentencePiece-mode vocabulary merge across the line break and cannot make
// the three-newline piece.
TEST(TokenizerGemma4, DiffersFromSentencePieceMode) {
  VocabData v = FromGguf().vocab();
  v.model = TokenizerModel::kSentencePiece;
  const Tokenizer spm = Tokenizer::FromVocab(std::move(v));
  EXPECT_EQ(spm.Encode("a\n"), (std::vector<int32_t>{296}));
  EXPECT_EQ(spm.Encode("\n\n\n"), (std::vector<int32_t>{274, 273}));
}

void ExpectSpecialIds(const Tokenizer& t) {
  EXPECT_EQ(t.bos_id(), 3);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.unk_id(), 1);
  EXPECT_EQ(t.pad_id(), 0);
  EXPECT_EQ(t.end_of_turn_id(), 16);
  EXPECT_EQ(t.EndOfGenerationIds(), (std::vector<int32_t>{2, 9, 16}));
  EXPECT_EQ(t.PieceToId("<|turn>"), 15);
  // Spec 6: the channel, tool-call and string markers are USER_DEFINED (shown
  // in output); the turn, tool-declaration and think markers are CONTROL.
  for (int32_t id : {7, 8, 9, 10, 11, 13, 14}) {
    EXPECT_EQ(t.Type(id), TokenType::kUserDefined) << t.IdToPiece(id);
  }
  for (int32_t id : {0, 2, 3, 4, 5, 6, 12, 15, 16}) {
    EXPECT_EQ(t.Type(id), TokenType::kControl) << t.IdToPiece(id);
  }
}

TEST(TokenizerGemma4, SpecialIdsByString) {
  ExpectSpecialIds(FromJson());
  ExpectSpecialIds(FromGguf());
  // Without the id keys, a "gemma4" GGUF finds <bos> etc. by their text
  // (Gemma 1-3n files would fall back to 2, 1, 3, 0 here).
  TempDir dir;
  WriteGguf(dir.File("noids.gguf"), nullptr, /*with_ids=*/false);
  ExpectSpecialIds(LoadTokenizerFile(dir.File("noids.gguf")));
  // A file from an older converter that left the markers CONTROL still shows them.
  WriteGguf(dir.File("control.gguf"), [](GgufWriter& w) {
    w.SetValue("tokenizer.ggml.token_type", Numbers(GgufType::kI32, Types(false)));
  });
  ExpectSpecialIds(LoadTokenizerFile(dir.File("control.gguf")));
}

TEST(TokenizerGemma4, Decode) {
  for (const Tokenizer* t : {&FromJson(), &FromGguf()}) {
    // Control tokens are dropped unless kept; ▁ is a space; markers are text.
    EXPECT_EQ(t->Decode({15, 295, 273, 290, 16}), "user\nhi");
    EXPECT_EQ(t->Decode({15, 295, 273, 290, 16}, true), "<|turn>user\nhi<turn|>");
    EXPECT_EQ(t->Decode({13, 290, 14, 7, 11, 292, 11, 8}),
              "<|channel>hi<channel|><|tool_call><|\"|> hi<|\"|><tool_call|>");
    EXPECT_EQ(t->Decode({297, 290, 276}), "  hi ");
    // Byte pieces fuse into UTF-8; an incomplete sequence is U+FFFD.
    EXPECT_EQ(t->Decode({280, Byte(0xC3), Byte(0xA9)}), "h\xC3\xA9");
    EXPECT_EQ(t->Decode({Byte(0xC3), 277}),
              "\xEF\xBF\xBD"
              "a");
    StreamingDecoder stream(*t);
    std::string streamed;
    for (int32_t id : {Byte(0xF0), Byte(0x9F), Byte(0x98)}) streamed += stream.Push(id);
    EXPECT_EQ(streamed, "");
    EXPECT_EQ(stream.Push(Byte(0x8A)), "\xF0\x9F\x98\x8A");
    EXPECT_EQ(stream.Push(13), "<|channel>");
    EXPECT_EQ(stream.Push(16), "");
  }
}

// Decode(Encode(text)) is the text for random strings over characters that
// exercise every path (pieces, newline runs, spaces, bytes, markers), in both
// modes; with control markers the round trip needs keep_special.
TEST(TokenizerGemma4, RandomRoundTrip) {
  const std::vector<std::string> alphabet = {"a",
                                             "b",
                                             "c",
                                             "h",
                                             "i",
                                             "u",
                                             "s",
                                             "e",
                                             "r",
                                             "x",
                                             " ",
                                             "  ",
                                             "\n",
                                             "\n\n",
                                             "\t",
                                             "\xC3\xA9",
                                             "\xE6\x97\xA5",
                                             "\xF0\x9F\x98\x8A",
                                             "<|\"|>",
                                             "<|channel>",
                                             "<|tool_call>",
                                             "<|turn>",
                                             "<turn|>",
                                             "<|tool>",
                                             "<",
                                             "|",
                                             ">"};
  std::mt19937 rng(4);
  for (const Tokenizer* t : {&FromJson(), &FromGguf()}) {
    for (int iter = 0; iter < 300; ++iter) {
      std::string text;
      const int len = static_cast<int>(rng() % 24);
      for (int k = 0; k < len; ++k) text += alphabet[rng() % alphabet.size()];
      const auto special = t->Encode(text, true);
      const auto literal = t->Encode(text, false);
      EXPECT_EQ(t->Decode(special, /*keep_special=*/true), text);
      EXPECT_EQ(t->Decode(literal), text);
      for (int32_t id : literal) EXPECT_NE(t->Type(id), TokenType::kControl) << text;
    }
  }
}

// --- Malformed vocabularies: a gemma::Error naming the file and the key. ---

template <typename F>
void ExpectError(F&& load, const std::vector<std::string>& parts) {
  try {
    load();
    ADD_FAILURE() << "no error; expected one mentioning " << parts.back();
  } catch (const Error& e) {
    for (const std::string& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  }
}

TEST(TokenizerGemma4, MalformedGgufMerges) {
  TempDir dir;
  int n = 0;
  auto expect = [&](const std::function<void(GgufWriter&)>& edit,
                    const std::vector<std::string>& parts) {
    const std::string path = dir.File("bad" + std::to_string(n++) + ".gguf");
    WriteGguf(path, edit);
    std::vector<std::string> all = {path};
    all.insert(all.end(), parts.begin(), parts.end());
    ExpectError([&] { LoadTokenizerFile(path); }, all);
  };
  auto merges = [](std::vector<std::string> m) {
    return [m](GgufWriter& w) { w.SetValue("tokenizer.ggml.merges", Strings(m)); };
  };
  // Not strings, not an array, absent.
  expect([](GgufWriter& w) { w.SetValue("tokenizer.ggml.merges", Numbers(GgufType::kI32, {1})); },
         {"tokenizer.ggml.merges", "array of strings"});
  expect([](GgufWriter& w) { w.SetString("tokenizer.ggml.merges", "a b"); },
         {"tokenizer.ggml.merges", "array of strings"});
  {
    // A file without the key: written from scratch, as the writer cannot drop one.
    GgufWriter w;
    w.SetString("tokenizer.ggml.model", "gemma4");
    w.SetValue("tokenizer.ggml.tokens", Strings(Pieces()));
    w.SetValue("tokenizer.ggml.token_type", Numbers(GgufType::kI32, Types()));
    const std::string path = dir.File("nomerges.gguf");
    w.Write(path);
    ExpectError([&] { LoadTokenizerFile(path); }, {path, "tokenizer.ggml.merges", "missing"});
  }
  // Wrong arity.
  expect(merges({"h i", "a b c"}), {"tokenizer.ggml.merges[1]", "not two pieces"});
  expect(merges({"hi"}), {"tokenizer.ggml.merges[0]", "not two pieces"});
  expect(merges({"h i", "b c", " a"}), {"tokenizer.ggml.merges[2]", "not two pieces"});
  expect(merges({"a "}), {"tokenizer.ggml.merges[0]", "not two pieces"});
  // Unknown pieces.
  expect(merges({"h i", "a z"}), {"tokenizer.ggml.merges[1]", "right piece", "not in the vocab"});
  expect(merges({"z a"}), {"tokenizer.ggml.merges[0]", "left piece", "not in the vocab"});
  expect(merges({"h i", "b c", "c a"}),
         {"tokenizer.ggml.merges[2]", "merged piece", "not in the vocab"});
  // Other keys of a gemma4 vocabulary.
  expect([](GgufWriter& w) { w.SetString("tokenizer.ggml.model", "gemma5"); },
         {"tokenizer model 'gemma5'"});
  expect([](GgufWriter& w) { w.SetU32("tokenizer.ggml.bos_token_id", 9999); },
         {"tokenizer.ggml.bos_token_id", "out of range"});
}

TEST(TokenizerGemma4, MalformedJsonMerges) {
  std::ifstream in(kJsonPath);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string good = ss.str();
  const std::string merges_tail = "[\n    \"\u2581\",\n    \"\u2581\"\n   ]\n  ]";
  const size_t at = good.rfind(merges_tail);
  ASSERT_NE(at, std::string::npos) << "the last merge of " << kJsonPath << " moved";
  // Appends `entry` to model.merges.
  auto with_merge = [&](const std::string& entry) {
    std::string text = good;
    text.insert(at + merges_tail.size() - 1, ", " + entry);
    return text;
  };
  auto expect = [](const std::string& text, const std::vector<std::string>& parts) {
    std::vector<std::string> all = {"bad4.json"};
    all.insert(all.end(), parts.begin(), parts.end());
    ExpectError([&] { Tokenizer::FromTokenizerJsonText(text, "bad4.json"); }, all);
  };
  // Sanity: a valid extra merge loads (and, ranked last, changes nothing here).
  EXPECT_EQ(Tokenizer::FromTokenizerJsonText(with_merge(R"(["h", "i"])"), "ok.json").Encode("hi"),
            (std::vector<int32_t>{290}));
  expect(with_merge(R"(["a", "b", "c"])"), {"model.merges[12]"});
  expect(with_merge(R"(["a"])"), {"model.merges[12]"});
  expect(with_merge(R"([1, 2])"), {"model.merges[12]"});
  expect(with_merge(R"("a b c")"), {"model.merges[12]", "left right"});
  expect(with_merge(R"(["a", "z"])"), {"model.merges[12]", "right piece", "not in the vocab"});
  // A Gemma 4 vocabulary without merges cannot be encoded as Gemma 4 does.
  std::string no_merges = good;
  const size_t list = no_merges.find("\"merges\": [");
  ASSERT_NE(list, std::string::npos);
  no_merges.replace(list, at + merges_tail.size() - list, "\"merges\": []");
  expect(no_merges, {"needs its BPE merges"});
}

TEST(TokenizerGemma4, MalformedVocabData) {
  VocabData v = FromGguf().vocab();
  v.merges.clear();
  ExpectError([&] { Tokenizer::FromVocab(v, "v.gguf", "tokenizer.ggml.merges"); },
              {"v.gguf", "needs its BPE merges"});
  v = FromGguf().vocab();
  v.bos_id = -1;
  ExpectError([&] { Tokenizer::FromVocab(v, "v.gguf", "tokenizer.ggml.merges"); },
              {"v.gguf", "<bos>"});
  v = FromGguf().vocab();
  v.add_space_prefix = true;
  ExpectError([&] { Tokenizer::FromVocab(v, "v.gguf", "tokenizer.ggml.merges"); },
              {"v.gguf", "no prefix"});
}

// GGUF's tokenizer.ggml.eot_token_id joins the end-of-generation set.
TEST(TokenizerGemma4, EndOfTurnIdFromGguf) {
  TempDir dir;
  WriteGguf(dir.File("eot.gguf"),
            [](GgufWriter& w) { w.SetU32("tokenizer.ggml.eot_token_id", 6); });
  EXPECT_EQ(LoadTokenizerFile(dir.File("eot.gguf")).EndOfGenerationIds(),
            (std::vector<int32_t>{2, 6, 9, 16}));
  WriteGguf(dir.File("bad_eot.gguf"),
            [](GgufWriter& w) { w.SetU32("tokenizer.ggml.eot_token_id", 298); });
  ExpectError([&] { LoadTokenizerFile(dir.File("bad_eot.gguf")); },
              {"bad_eot.gguf", "tokenizer.ggml.eot_token_id", "out of range"});
  WriteGguf(dir.File("str_eot.gguf"),
            [](GgufWriter& w) { w.SetString("tokenizer.ggml.eot_token_id", "<turn|>"); });
  ExpectError([&] { LoadTokenizerFile(dir.File("str_eot.gguf")); },
              {"str_eot.gguf", "tokenizer.ggml.eot_token_id", "integer"});
}

// The Gemma 1-3n vocabularies report their own end-of-generation set.
TEST(TokenizerGemma4, SentencePieceEndOfGeneration) {
  VocabData v;
  v.pieces = {"<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "a"};
  v.types = {TokenType::kControl, TokenType::kControl, TokenType::kControl, TokenType::kUnknown,
             TokenType::kControl, TokenType::kControl, TokenType::kNormal};
  const Tokenizer t = Tokenizer::FromVocab(v);
  EXPECT_EQ(t.model(), TokenizerModel::kSentencePiece);
  EXPECT_EQ(t.end_of_turn_id(), 5);
  EXPECT_EQ(t.EndOfGenerationIds(), (std::vector<int32_t>{1, 5}));
  EXPECT_STREQ(GgufTokenizerModelName(t.model()), "llama");
  EXPECT_STREQ(GgufTokenizerModelName(TokenizerModel::kGemma4), "gemma4");
}

}  // namespace
}  // namespace gemma
