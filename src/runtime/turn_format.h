// The turn formats Chat writes (spec tokenizer-and-prompts.md 7.1-7.4), as
// data: Gemma 1-3n's <start_of_turn> format and Gemma 4's <|turn> format in
// its two template variants; the prompt pieces a conversation renders to; and
// the router that keeps Gemma 4's thought channel apart from the answer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gemma {

class Tokenizer;

struct TurnFormat {
  std::string_view name;        // "gemma", "gemma4-small", "gemma4-large"
  std::string_view turn_open;   // "<start_of_turn>" | "<|turn>"
  std::string_view turn_close;  // "<end_of_turn>" | "<turn|>"
  // Gemma 4 has a system role: the system prompt is a turn of its own.
  // Gemma 1-3n have none: the prompt opens the first user turn, followed by
  // a blank line.
  bool system_turn = false;
  // Gemma 4's thinking mode: <|think|> opens the system turn, and the model
  // thinks in a <|channel>thought\n...<channel|> block before answering.
  // Empty in formats without one.
  std::string_view think_marker;
  std::string_view channel_open, channel_close;
  // The 12B/26B/31B template ends the generation prompt with an empty thought
  // block when thinking is off; the E2B/E4B template does not.
  bool empty_thought_when_not_thinking = false;
  // Gemma 4's template writes a past answer with its thinking stripped and
  // trimmed, so a turn's KV entries are rewritten to that before the next
  // turn. Gemma 1-3n keep the answer's tokens as generated.
  bool rewrite_answers_as_history = false;

  bool has_thinking() const { return !think_marker.empty(); }
};

extern const TurnFormat kGemmaTurns;        // Gemma 1, 1.1, 2, 3, 3n
extern const TurnFormat kGemma4SmallTurns;  // Gemma 4 E2B, E4B
extern const TurnFormat kGemma4LargeTurns;  // Gemma 4 12B, 26B-A4B, 31B

// The format by name (TurnFormat::name); nullptr for an unknown name.
const TurnFormat* FindTurnFormat(std::string_view name);

// The format a model speaks. The vocabulary decides the generation (only
// Gemma 4's has <|turn>); for Gemma 4 the model's own chat template decides
// the variant (the large one writes the empty thought block), and without a
// Gemma 4 template the model's file name does (E2B/E4B are small, every other
// size is large).
const TurnFormat& SelectTurnFormat(const Tokenizer& tokenizer, std::string_view chat_template,
                                   std::string_view model_path);

// One piece of a rendered prompt: a marker (encoded as its vocabulary id,
// looked up by piece) or text (encoded literally, so that user text cannot
// inject control tokens).
struct PromptPiece {
  std::string text;
  bool marker = false;
};
using Prompt = std::vector<PromptPiece>;

// The prompt's text as the Jinja template renders it (markers as their text).
std::string PromptText(const Prompt& prompt);

// The template's strip_thinking: drops every <|channel>...<channel|> block
// (and an unterminated one to the end), then trims.
std::string StripThinking(std::string_view text);

// A past answer as later turns' history holds it.
std::string HistoryAnswer(const TurnFormat& format, std::string_view answer);

// <bos>, then Gemma 4's system turn when there is a system prompt or
// thinking is on.
void AppendConversationStart(const TurnFormat& format, std::string_view system, bool thinking,
                             Prompt* prompt);
// A closed user turn. `system_prefix`: the system prompt of a format without
// a system turn, for the first user turn; empty otherwise.
void AppendUserTurn(const TurnFormat& format, std::string_view text, std::string_view system_prefix,
                    Prompt* prompt);
// The header of a model turn ("<|turn>model\n").
void AppendModelHeader(const TurnFormat& format, Prompt* prompt);
// What the generation prompt adds after the header: the empty thought block
// of the large Gemma 4 template with thinking off; nothing otherwise.
void AppendAnswerPrefix(const TurnFormat& format, bool thinking, Prompt* prompt);
// A past answer (HistoryAnswer) and the close of its turn.
void AppendModelTurnEnd(const TurnFormat& format, std::string_view answer, Prompt* prompt);

// A whole conversation as the model's template renders it: the start, each
// past (user, answer) turn, then `next_user`'s turn and the generation
// prompt (omitted when next_user is null).
struct PastTurn {
  std::string user, answer;
};
Prompt RenderConversation(const TurnFormat& format, std::string_view system, bool thinking,
                          const std::vector<PastTurn>& turns, const std::string* next_user);

// Splits a generated token stream into answer and thought text: text
// between <|channel> and <channel|> is thought, less the channel's name line
// ("thought\n"); the markers themselves are neither. A format without
// channels (ids < 0) sends everything to the answer.
class ChannelRouter {
 public:
  ChannelRouter(int32_t open_id, int32_t close_id) : open_id_(open_id), close_id_(close_id) {}
  // `text` is token `id`'s decoded text; appends its parts to the two outputs.
  void Push(int32_t id, std::string_view text, std::string* answer, std::string* thought);
  bool saw_channel() const { return saw_channel_; }

 private:
  enum class State { kAnswer, kChannelName, kThought };
  int32_t open_id_, close_id_;
  State state_ = State::kAnswer;
  bool saw_channel_ = false;
};

}  // namespace gemma
