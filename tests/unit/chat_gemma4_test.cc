// Gemma 4's chat format (spec tokenizer-and-prompts.md 7.4): the prompts Chat
// renders equal, byte for byte, what the model's template renders, written
// out below by hand from the template (the large template of the 12B/26B/31B
// models and the small one of E2B/E4B differ only in the empty thought block
// the large one appends to the generation prompt when thinking is off); the
// thought channel is kept apart from the answer and dropped from the history;
// Gemma 1-3n keep their format. The end-to-end tests run the tiny Gemma 3
// golden model with the tiny Gemma 4 vocabulary of tests/data/tokenizer in
// place of its own (padded to the model's 512 embedding rows and written as
// GGUF metadata), so the model speaks the Gemma 4 format; its answers are
// whatever the random weights produce, and the tests check the prompt
// around them.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "gemma/gemma.h"
#include "io/gguf_writer.h"
#include "runtime/turn_format.h"
#include "testing/golden_case.h"
#include "tokenizer/tokenizer.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

const std::string kDataDir = GEMMA_TEST_DATA_DIR;
const std::string kGemma4Vocab = kDataDir + "/tokenizer/gemma4-tiny-tokenizer.json";
const std::string kGemma3Model =
    testing::GoldenDir("gemma3_qknorm") + "/gguf/gemma3_qknorm.q8_0.gguf";

std::string Text(const Prompt& prompt) { return PromptText(prompt); }

std::string Render(const TurnFormat& format, std::string_view system, bool thinking,
                   const std::vector<PastTurn>& turns, const std::string& next) {
  return Text(RenderConversation(format, system, thinking, turns, &next));
}

// --- Rendering, against the template. ---

TEST(ChatGemma4, SpecExampleThinkingOnWithSystem) {
  // Spec 7.4's first example; with thinking on both templates agree.
  const std::string want =
      "<bos><|turn>system\n<|think|>\nYou are helpful.<turn|>\n"
      "<|turn>user\nHi<turn|>\n"
      "<|turn>model\n";
  EXPECT_EQ(Render(kGemma4LargeTurns, "You are helpful.", true, {}, "Hi"), want);
  EXPECT_EQ(Render(kGemma4SmallTurns, "You are helpful.", true, {}, "Hi"), want);
}

TEST(ChatGemma4, SpecExampleThinkingOffNoSystem) {
  // Spec 7.4's second example is the large template's; the small one stops
  // at the model turn's header.
  EXPECT_EQ(Render(kGemma4LargeTurns, "", false, {}, "Hi"),
            "<bos><|turn>user\nHi<turn|>\n"
            "<|turn>model\n<|channel>thought\n<channel|>");
  EXPECT_EQ(Render(kGemma4SmallTurns, "", false, {}, "Hi"),
            "<bos><|turn>user\nHi<turn|>\n"
            "<|turn>model\n");
}

TEST(ChatGemma4, ThinkingOnWithoutSystemStillOpensASystemTurn) {
  const std::string want =
      "<bos><|turn>system\n<|think|>\n<turn|>\n"
      "<|turn>user\nHi<turn|>\n"
      "<|turn>model\n";
  EXPECT_EQ(Render(kGemma4LargeTurns, "", true, {}, "Hi"), want);
  EXPECT_EQ(Render(kGemma4SmallTurns, "", true, {}, "Hi"), want);
}

// Several turns: the system text and user turns trimmed, past answers with
// their thinking stripped and trimmed, the empty thought block only in the
// generation prompt (never in the history).
std::vector<PastTurn> ThreeTurns() {
  return {{"What is 2+2?", "<|channel>thought\nadd them\n<channel|>4"},
          {"  And 3+3? \n", "  6  "},
          {"Why?", "Because<|channel>thought\nchecking<channel|> 3+3=6."}};
}

TEST(ChatGemma4, SeveralTurnsThinkingOff) {
  const std::string history =
      "<bos><|turn>system\nBe brief.<turn|>\n"
      "<|turn>user\nWhat is 2+2?<turn|>\n"
      "<|turn>model\n4<turn|>\n"
      "<|turn>user\nAnd 3+3?<turn|>\n"
      "<|turn>model\n6<turn|>\n"
      "<|turn>user\nWhy?<turn|>\n"
      "<|turn>model\nBecause 3+3=6.<turn|>\n"
      "<|turn>user\nThanks!<turn|>\n"
      "<|turn>model\n";
  EXPECT_EQ(Render(kGemma4LargeTurns, "  Be brief.\n", false, ThreeTurns(), "Thanks!"),
            history + "<|channel>thought\n<channel|>");
  EXPECT_EQ(Render(kGemma4SmallTurns, "  Be brief.\n", false, ThreeTurns(), "Thanks!"), history);
}

TEST(ChatGemma4, SeveralTurnsThinkingOn) {
  const std::string want =
      "<bos><|turn>system\n<|think|>\nBe brief.<turn|>\n"
      "<|turn>user\nWhat is 2+2?<turn|>\n"
      "<|turn>model\n4<turn|>\n"
      "<|turn>user\nAnd 3+3?<turn|>\n"
      "<|turn>model\n6<turn|>\n"
      "<|turn>user\nWhy?<turn|>\n"
      "<|turn>model\nBecause 3+3=6.<turn|>\n"
      "<|turn>user\nThanks!<turn|>\n"
      "<|turn>model\n";
  EXPECT_EQ(Render(kGemma4LargeTurns, "Be brief.", true, ThreeTurns(), "Thanks!"), want);
  EXPECT_EQ(Render(kGemma4SmallTurns, "Be brief.", true, ThreeTurns(), "Thanks!"), want);
}

TEST(ChatGemma4, Gemma3FormatIsUnchanged) {
  // Spec 7.2: the system text and a blank line open the first user turn;
  // thinking does not exist there.
  const std::vector<PastTurn> turns = {{"What is 2+2?", "4"}};
  const std::string want =
      "<bos><start_of_turn>user\nBe brief.\n\nWhat is 2+2?<end_of_turn>\n"
      "<start_of_turn>model\n4<end_of_turn>\n"
      "<start_of_turn>user\nAnd 3+3?<end_of_turn>\n"
      "<start_of_turn>model\n";
  EXPECT_EQ(Render(kGemmaTurns, "Be brief.", false, turns, "And 3+3?"), want);
  EXPECT_EQ(Render(kGemmaTurns, "Be brief.", true, turns, "And 3+3?"), want);
}

TEST(ChatGemma4, MarkersArePiecesTheRestIsText) {
  Prompt prompt;
  AppendConversationStart(kGemma4LargeTurns, "sys", true, &prompt);
  AppendUserTurn(kGemma4LargeTurns, "<|turn>hi", {}, &prompt);
  std::vector<std::string> markers, texts;
  for (const PromptPiece& p : prompt) (p.marker ? markers : texts).push_back(p.text);
  EXPECT_EQ(markers, (std::vector<std::string>{"<bos>", "<|turn>", "<|think|>", "<turn|>",
                                               "<|turn>", "<turn|>"}));
  // The user's "<|turn>" is text, for the tokenizer to encode literally.
  EXPECT_EQ(texts,
            (std::vector<std::string>{"system\n", "\n", "sys", "\n", "user\n", "<|turn>hi", "\n"}));
}

TEST(ChatGemma4, StripThinkingAsTheTemplateMacro) {
  // The macro: split on <channel|>; of each part keep what precedes its
  // first <|channel>; then Python's strip().
  EXPECT_EQ(StripThinking("A<|channel>x<channel|>B"), "AB");
  EXPECT_EQ(StripThinking("<|channel>thought\nplan<channel|>  Answer  "), "Answer");
  EXPECT_EQ(StripThinking("kept<|channel>unterminated"), "kept");
  EXPECT_EQ(StripThinking("x<channel|>y"), "xy");
  EXPECT_EQ(StripThinking("a<|channel>1<|channel>2<channel|>b<|channel>3<channel|>c"), "abc");
  EXPECT_EQ(StripThinking(" \t\n\v\f\r"), "");
  // str.strip() also takes Unicode spaces: U+00A0, U+3000, U+2009.
  EXPECT_EQ(StripThinking("\xC2\xA0hi \xE2\x80\x89there\xE3\x80\x80"), "hi \xE2\x80\x89there");
  // Not spaces: U+200B (zero width), U+00E9.
  EXPECT_EQ(StripThinking("\xE2\x80\x8B\xC3\xA9"), "\xE2\x80\x8B\xC3\xA9");
}

TEST(ChatGemma4, FormatSelection) {
  const Tokenizer gemma4 = Tokenizer::FromTokenizerJson(kGemma4Vocab);
  const Tokenizer gemma3 =
      Tokenizer::FromSentencePieceModel(kDataDir + "/tokenizer/tiny-tokenizer.model");
  // Template fragments as the two Gemma 4 templates write their generation
  // prompts (Jinja string literals, newline escaped).
  const std::string large =
      "{{- '<|turn>model\\n' -}}{%- if not enable_thinking -%}"
      "{{- '<|channel>thought\\n<channel|>' -}}{%- endif -%}";
  const std::string small = "{{- '<|turn>model\\n' -}}";
  EXPECT_EQ(SelectTurnFormat(gemma4, large, "x.gguf").name, "gemma4-large");
  EXPECT_EQ(SelectTurnFormat(gemma4, small, "gemma-4-31B-it.gguf").name, "gemma4-small");
  // Without a Gemma 4 template: the file name.
  EXPECT_EQ(SelectTurnFormat(gemma4, "", "/m/gemma-4-E2B-it-Q4_0.gguf").name, "gemma4-small");
  EXPECT_EQ(SelectTurnFormat(gemma4, "", "/m/gemma4-e4b").name, "gemma4-small");
  EXPECT_EQ(SelectTurnFormat(gemma4, "", "/e2b/gemma-4-31B-it.gguf").name, "gemma4-large");
  EXPECT_EQ(SelectTurnFormat(gemma4, "", "/m/gemma-4-e2bx.gguf").name, "gemma4-large");
  EXPECT_EQ(SelectTurnFormat(gemma4, "<start_of_turn>", "gemma.gguf").name, "gemma4-large");
  // A vocabulary without <|turn> is Gemma 1-3n's, whatever the template.
  EXPECT_EQ(SelectTurnFormat(gemma3, large, "gemma-4-E2B.gguf").name, "gemma");
  EXPECT_EQ(FindTurnFormat("gemma4-small"), &kGemma4SmallTurns);
  EXPECT_EQ(FindTurnFormat("gemma5"), nullptr);
}

TEST(ChatGemma4, ChannelRouterSeparatesThoughts) {
  // Ids of the tiny Gemma 4 vocabulary: <|channel> 13, <channel|> 14.
  ChannelRouter router(13, 14);
  std::string answer, thought;
  const std::vector<std::pair<int32_t, std::string>> stream = {
      {277, "a"},  {13, "<|channel>"}, {282, "th"},        {290, "ought"}, {273, "\n"},
      {290, "hi"}, {273, "\n"},        {14, "<channel|>"}, {278, "b"},     {-1, "c"}};
  for (const auto& [id, text] : stream) router.Push(id, text, &answer, &thought);
  EXPECT_EQ(answer, "abc");
  EXPECT_EQ(thought, "hi\n");
  EXPECT_TRUE(router.saw_channel());
  // Without channel ids (Gemma 1-3n) the markers' text is answer text.
  ChannelRouter none(-1, -1);
  answer.clear();
  thought.clear();
  for (const auto& [id, text] : stream) none.Push(id, text, &answer, &thought);
  EXPECT_EQ(answer, "a<|channel>thought\nhi\n<channel|>bc");
  EXPECT_EQ(thought, "");
  EXPECT_FALSE(none.saw_channel());
}

// --- Chat end to end on the tiny model with the Gemma 4 vocabulary. ---

GgufValue Array(GgufType type, std::vector<std::string> strings, std::vector<double> numbers) {
  GgufValue v;
  v.type = GgufType::kArray;
  v.array_type = type;
  v.array_size = type == GgufType::kString ? strings.size() : numbers.size();
  v.strings = std::move(strings);
  v.numbers = std::move(numbers);
  return v;
}

// The tiny Gemma 4 vocabulary with normal pieces "pad298".."pad511" added,
// as a "gemma4" GGUF vocabulary (removed when the tests end).
class PaddedGemma4Vocab {
 public:
  PaddedGemma4Vocab()
      : path_((fs::temp_directory_path() /
               ("gemma4_vocab512_" + std::to_string(::getpid()) + ".gguf"))
                  .string()) {
    const VocabData v = Tokenizer::FromTokenizerJson(kGemma4Vocab).vocab();
    std::vector<std::string> pieces = v.pieces, merges;
    std::vector<double> types;
    for (const TokenType t : v.types) types.push_back(static_cast<double>(t));
    for (size_t i = pieces.size(); i < 512; ++i) {
      pieces.push_back("pad" + std::to_string(i));
      types.push_back(static_cast<double>(TokenType::kNormal));
    }
    for (const auto& [left, right] : v.merges) merges.push_back(left + " " + right);
    GgufWriter w;
    w.SetString("tokenizer.ggml.model", "gemma4");
    w.SetValue("tokenizer.ggml.tokens", Array(GgufType::kString, pieces, {}));
    w.SetValue("tokenizer.ggml.token_type", Array(GgufType::kI32, {}, types));
    w.SetValue("tokenizer.ggml.merges", Array(GgufType::kString, merges, {}));
    w.SetU32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
    w.SetU32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));
    w.SetU32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(v.unk_id));
    w.SetU32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(v.pad_id));
    w.Write(path_);
  }
  ~PaddedGemma4Vocab() { fs::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const std::string& Gemma4VocabFile() {
  static const PaddedGemma4Vocab vocab;
  return vocab.path();
}

std::unique_ptr<Model> OpenWithGemma4Vocab(bool gemma4_vocab = true) {
  ModelOptions options;
  options.context_length = 512;
  options.kv_cache_type = "f32";
  options.parallel = 3;
  if (gemma4_vocab) options.tokenizer_path = Gemma4VocabFile();
  auto model = Model::Open(kGemma3Model, options);
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? std::move(model).value() : nullptr;
}

std::string SessionText(Chat& chat) {
  static const Tokenizer vocab = Tokenizer::FromTokenizerJson(kGemma4Vocab);
  return vocab.Decode(chat.session().tokens(), /*keep_special=*/true);
}

std::string Trimmed(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t\n\r\v\f");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t\n\r\v\f") - begin + 1);
}

GenerateOptions Greedy(int max_tokens) {
  GenerateOptions options;
  options.sampling.temperature = 0;
  options.max_tokens = max_tokens;
  return options;
}

void ExpectStartsWith(const std::string& text, const std::string& prefix) {
  EXPECT_EQ(text.substr(0, prefix.size()), prefix) << "whole text: " << text;
}

// The session after two turns (large template, thinking off) holds what the
// template renders for the conversation: the first answer without the empty
// thought block of its generation prompt, trimmed; and it equals a fresh
// prefill of the same tokens (the rewrite left the KV cache consistent).
TEST(ChatGemma4, LargeTemplateTwoTurns) {
  auto model = OpenWithGemma4Vocab();
  ASSERT_TRUE(model);
  EXPECT_EQ(model->info().chat_format, "gemma4-large");
  ChatOptions chat_options;
  chat_options.system_prompt = "Be brief.";
  Chat chat(*model, chat_options);
  EXPECT_EQ(chat.format(), "gemma4-large");
  EXPECT_TRUE(chat.supports_thinking());
  const std::string turn1 =
      "<bos><|turn>system\nBe brief.<turn|>\n"
      "<|turn>user\nHello there<turn|>\n"
      "<|turn>model\n<|channel>thought\n<channel|>";
  ASSERT_TRUE(chat.Send("Hello there", Greedy(6), nullptr).ok());
  ExpectStartsWith(SessionText(chat), turn1);
  // The prompt's tokens are the template's text encoded whole, as Hugging
  // Face's apply_chat_template + encode would give them.
  const Tokenizer vocab = Tokenizer::FromTokenizerJson(kGemma4Vocab);
  const std::vector<int32_t> whole = vocab.Encode(turn1, /*parse_special=*/true);
  const std::vector<int32_t>& tokens = chat.session().tokens();
  ASSERT_GE(tokens.size(), whole.size());
  EXPECT_EQ(std::vector<int32_t>(tokens.begin(), tokens.begin() + whole.size()), whole);

  ASSERT_TRUE(chat.Send("And again", Greedy(6), nullptr).ok());
  const std::string turn2 =
      "<bos><|turn>system\nBe brief.<turn|>\n"
      "<|turn>user\nHello there<turn|>\n"
      "<|turn>model\n" +
      Trimmed(chat.history()[0].model) +
      "<turn|>\n"
      "<|turn>user\nAnd again<turn|>\n"
      "<|turn>model\n<|channel>thought\n<channel|>";
  ExpectStartsWith(SessionText(chat), turn2);

  Session fresh(*model);
  ASSERT_TRUE(fresh.Append(chat.session().tokens()).ok());
  const std::span<const float> a = fresh.logits(), b = chat.session().logits();
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-4f * (1 + std::fabs(a[i])));
}

// The small template, thinking on: a system turn with <|think|> only, no
// empty thought block; thoughts (if the model has any) are not the answer.
TEST(ChatGemma4, SmallTemplateThinkingOn) {
  auto model = OpenWithGemma4Vocab();
  ASSERT_TRUE(model);
  ChatOptions chat_options;
  chat_options.thinking = true;
  chat_options.format = "gemma4-small";
  Chat chat(*model, chat_options);
  std::string streamed_answer, streamed_thought;
  auto answer = chat.Send(
      "Hello there", Greedy(8),
      [&](std::string_view s) {
        streamed_answer += s;
        return true;
      },
      [&](std::string_view s) {
        streamed_thought += s;
        return true;
      });
  ASSERT_TRUE(answer.ok()) << answer.status().message();
  EXPECT_EQ(answer.value(), streamed_answer);
  EXPECT_EQ(chat.history()[0].model, streamed_answer);
  EXPECT_EQ(chat.history()[0].thought, streamed_thought);
  EXPECT_EQ(streamed_answer.find("<|channel>"), std::string::npos);
  ASSERT_TRUE(chat.Send("And again", Greedy(4), nullptr).ok());
  ExpectStartsWith(SessionText(chat),
                   "<bos><|turn>system\n<|think|>\n<turn|>\n"
                   "<|turn>user\nHello there<turn|>\n"
                   "<|turn>model\n" +
                       Trimmed(chat.history()[0].model) +
                       "<turn|>\n"
                       "<|turn>user\nAnd again<turn|>\n"
                       "<|turn>model\n");
  const std::string text = SessionText(chat);
  EXPECT_EQ(text.find("<|turn>model\n<|channel>thought\n<channel|>"), std::string::npos);
}

// Switching thinking on mid-conversation changes the system turn: the
// conversation is prefilled again as the template renders it.
TEST(ChatGemma4, SwitchingThinkingRewritesTheSystemTurn) {
  auto model = OpenWithGemma4Vocab();
  ASSERT_TRUE(model);
  Chat chat(*model);
  ASSERT_TRUE(chat.Send("Hello there", Greedy(4), nullptr).ok());
  ExpectStartsWith(SessionText(chat), "<bos><|turn>user\nHello there<turn|>\n");
  chat.set_thinking(true);
  EXPECT_TRUE(chat.thinking());
  ASSERT_TRUE(chat.Send("And again", Greedy(4), nullptr).ok());
  ExpectStartsWith(SessionText(chat),
                   "<bos><|turn>system\n<|think|>\n<turn|>\n"
                   "<|turn>user\nHello there<turn|>\n"
                   "<|turn>model\n" +
                       Trimmed(chat.history()[0].model) +
                       "<turn|>\n"
                       "<|turn>user\nAnd again<turn|>\n"
                       "<|turn>model\n");
}

TEST(ChatGemma4, SaveAndResumeKeepsFormatAndThinking) {
  auto model = OpenWithGemma4Vocab();
  ASSERT_TRUE(model);
  ChatOptions chat_options;
  chat_options.system_prompt = "sys";
  chat_options.thinking = true;
  Chat chat(*model, chat_options);
  ASSERT_TRUE(chat.Send("first", Greedy(6), nullptr).ok());
  const std::string path =
      (fs::temp_directory_path() / ("gemma4_chat_" + std::to_string(::getpid()))).string();
  ASSERT_TRUE(chat.Save(path).ok());
  auto expected = chat.Send("second", Greedy(6), nullptr);
  ASSERT_TRUE(expected.ok());

  ChatOptions other;
  other.format = "gemma4-small";  // the file's format and thinking win
  Chat resumed(*model, other);
  ASSERT_TRUE(resumed.Load(path).ok());
  EXPECT_EQ(resumed.format(), "gemma4-large");
  EXPECT_TRUE(resumed.thinking());
  auto answer = resumed.Send("second", Greedy(6), nullptr);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer.value(), expected.value());
  EXPECT_EQ(resumed.session().tokens(), chat.session().tokens());
  fs::remove(path);
}

TEST(ChatGemma4, StopTokensFromTheVocabulary) {
  auto model = OpenWithGemma4Vocab();
  ASSERT_TRUE(model);
  // The tiny vocabulary's <eos> 2, <|tool_response> 9, <turn|> 16.
  for (int id : {2, 9, 16}) EXPECT_TRUE(model->IsEndOfGeneration(id)) << id;
  EXPECT_FALSE(model->IsEndOfGeneration(15));  // <|turn>
  EXPECT_FALSE(model->IsEndOfGeneration(14));  // <channel|>
}

TEST(ChatGemma4, UnsuitableFormatIsAnError) {
  auto gemma3 = OpenWithGemma4Vocab(/*gemma4_vocab=*/false);
  ASSERT_TRUE(gemma3);
  EXPECT_EQ(gemma3->info().chat_format, "gemma");
  ChatOptions options;
  options.format = "gemma4-large";
  Chat needs_vocab(*gemma3, options);
  auto answer = needs_vocab.Send("hi", Greedy(2), nullptr);
  ASSERT_FALSE(answer.ok());
  EXPECT_NE(answer.status().message().find("Gemma 4 vocabulary"), std::string::npos)
      << answer.status().message();
  options.format = "gemma5";
  Chat unknown(*gemma3, options);
  answer = unknown.Send("hi", Greedy(2), nullptr);
  ASSERT_FALSE(answer.ok());
  EXPECT_NE(answer.status().message().find("'gemma5'"), std::string::npos);
  // Gemma 1-3n have no thinking mode: switching it changes nothing.
  Chat chat(*gemma3);
  EXPECT_FALSE(chat.supports_thinking());
}

}  // namespace
}  // namespace gemma
