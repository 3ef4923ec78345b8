#include "runtime/turn_format.h"

#include <algorithm>
#include <cctype>

#include "tokenizer/tokenizer.h"

namespace gemma {

const TurnFormat kGemmaTurns = {
    .name = "gemma",
    .turn_open = "<start_of_turn>",
    .turn_close = "<end_of_turn>",
    .system_turn = false,
    .think_marker = {},
    .channel_open = {},
    .channel_close = {},
    .empty_thought_when_not_thinking = false,
    .rewrite_answers_as_history = false,
};

const TurnFormat kGemma4SmallTurns = {
    .name = "gemma4-small",
    .turn_open = "<|turn>",
    .turn_close = "<turn|>",
    .system_turn = true,
    .think_marker = "<|think|>",
    .channel_open = "<|channel>",
    .channel_close = "<channel|>",
    .empty_thought_when_not_thinking = false,
    .rewrite_answers_as_history = true,
};

const TurnFormat kGemma4LargeTurns = {
    .name = "gemma4-large",
    .turn_open = "<|turn>",
    .turn_close = "<turn|>",
    .system_turn = true,
    .think_marker = "<|think|>",
    .channel_open = "<|channel>",
    .channel_close = "<channel|>",
    .empty_thought_when_not_thinking = true,
    .rewrite_answers_as_history = true,
};

namespace {

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// "gemma-4-E2B-it-Q4_0.gguf", "gemma4:e4b": e2b/e4b as a word of the name.
bool NamesSmallGemma4(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  std::string name(slash == std::string_view::npos ? path : path.substr(slash + 1));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto word_char = [&](size_t i) { return std::isalnum(static_cast<unsigned char>(name[i])); };
  for (const char* size : {"e2b", "e4b"}) {
    for (size_t at = name.find(size); at != std::string::npos; at = name.find(size, at + 1)) {
      const size_t end = at + 3;
      if ((at == 0 || !word_char(at - 1)) && (end == name.size() || !word_char(end))) return true;
    }
  }
  return false;
}

// The length of the whitespace character at text[pos] as Python's
// str.isspace() (Jinja's trim is str.strip()) counts it; 0 if none.
size_t SpaceAt(std::string_view text, size_t pos) {
  const auto c = static_cast<unsigned char>(text[pos]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return 1;
  auto is = [&](std::string_view s) { return text.substr(pos, s.size()) == s; };
  if (is("\xC2\x85") || is("\xC2\xA0")) return 2;  // U+0085, U+00A0
  if (c == 0xE1 && is("\xE1\x9A\x80")) return 3;   // U+1680
  if (c == 0xE2 && pos + 2 < text.size() && static_cast<unsigned char>(text[pos + 1]) == 0x80) {
    const auto last = static_cast<unsigned char>(text[pos + 2]);
    // U+2000..U+200A, U+2028, U+2029, U+202F
    if ((last >= 0x80 && last <= 0x8A) || last == 0xA8 || last == 0xA9 || last == 0xAF) return 3;
  }
  if (is("\xE2\x81\x9F") || is("\xE3\x80\x80")) return 3;  // U+205F, U+3000
  return 0;
}

// Python's str.strip(): whitespace off both ends.
std::string Trim(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    const size_t n = SpaceAt(text, begin);
    if (n == 0) break;
    begin += n;
  }
  // From the end: find the last character that is not whitespace by walking
  // forward (UTF-8 cannot be scanned backwards for multi-byte spaces safely
  // without decoding, and the text is short).
  size_t end = begin;
  for (size_t pos = begin; pos < text.size();) {
    const size_t n = SpaceAt(text, pos);
    if (n > 0) {
      pos += n;
      continue;
    }
    // One character (UTF-8 lead byte and its continuation bytes).
    ++pos;
    while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
    end = pos;
  }
  return std::string(text.substr(begin, end - begin));
}

void Marker(std::string_view text, Prompt* prompt) { prompt->push_back({std::string(text), true}); }
void Text(std::string text, Prompt* prompt) {
  if (!text.empty()) prompt->push_back({std::move(text), false});
}

}  // namespace

const TurnFormat* FindTurnFormat(std::string_view name) {
  for (const TurnFormat* f : {&kGemmaTurns, &kGemma4SmallTurns, &kGemma4LargeTurns}) {
    if (f->name == name) return f;
  }
  return nullptr;
}

const TurnFormat& SelectTurnFormat(const Tokenizer& tokenizer, std::string_view chat_template,
                                   std::string_view model_path) {
  if (tokenizer.PieceToId("<|turn>") < 0) return kGemmaTurns;
  // The large template's generation prompt appends the empty thought block,
  // written in the Jinja source as a string literal with an escaped or a
  // real newline; the small template has no such literal.
  if (Contains(chat_template, "<|turn>")) {
    const bool empty_block = Contains(chat_template, "<|channel>thought\\n<channel|>") ||
                             Contains(chat_template, "<|channel>thought\n<channel|>");
    return empty_block ? kGemma4LargeTurns : kGemma4SmallTurns;
  }
  return NamesSmallGemma4(model_path) ? kGemma4SmallTurns : kGemma4LargeTurns;
}

std::string PromptText(const Prompt& prompt) {
  std::string text;
  for (const PromptPiece& piece : prompt) text += piece.text;
  return text;
}

std::string StripThinking(std::string_view text) {
  // As the template's macro: split on <channel|>; of a part that holds a
  // <|channel>, keep what precedes the first one.
  constexpr std::string_view kOpen = "<|channel>", kClose = "<channel|>";
  std::string kept;
  for (size_t begin = 0;;) {
    const size_t close = text.find(kClose, begin);
    const std::string_view part = text.substr(
        begin, close == std::string_view::npos ? std::string_view::npos : close - begin);
    kept += part.substr(0, part.find(kOpen));
    if (close == std::string_view::npos) break;
    begin = close + kClose.size();
  }
  return Trim(kept);
}

std::string HistoryAnswer(const TurnFormat& format, std::string_view answer) {
  return format.rewrite_answers_as_history ? StripThinking(answer) : std::string(answer);
}

void AppendConversationStart(const TurnFormat& format, std::string_view system, bool thinking,
                             Prompt* prompt) {
  Marker("<bos>", prompt);
  if (!format.system_turn) return;
  const bool think = thinking && format.has_thinking();
  if (system.empty() && !think) return;
  Marker(format.turn_open, prompt);
  Text("system\n", prompt);
  if (think) {
    Marker(format.think_marker, prompt);
    Text("\n", prompt);
  }
  Text(Trim(system), prompt);
  Marker(format.turn_close, prompt);
  Text("\n", prompt);
}

void AppendUserTurn(const TurnFormat& format, std::string_view text, std::string_view system_prefix,
                    Prompt* prompt) {
  std::string content = Trim(text);
  if (!format.system_turn && !system_prefix.empty()) {
    content = std::string(system_prefix) + "\n\n" + content;
  }
  Marker(format.turn_open, prompt);
  Text("user\n", prompt);
  Text(std::move(content), prompt);
  Marker(format.turn_close, prompt);
  Text("\n", prompt);
}

void AppendModelHeader(const TurnFormat& format, Prompt* prompt) {
  Marker(format.turn_open, prompt);
  Text("model\n", prompt);
}

void AppendAnswerPrefix(const TurnFormat& format, bool thinking, Prompt* prompt) {
  if (!format.empty_thought_when_not_thinking || thinking) return;
  Marker(format.channel_open, prompt);
  Text("thought\n", prompt);
  Marker(format.channel_close, prompt);
}

void AppendModelTurnEnd(const TurnFormat& format, std::string_view answer, Prompt* prompt) {
  Text(HistoryAnswer(format, answer), prompt);
  Marker(format.turn_close, prompt);
  Text("\n", prompt);
}

Prompt RenderConversation(const TurnFormat& format, std::string_view system, bool thinking,
                          const std::vector<PastTurn>& turns, const std::string* next_user) {
  Prompt prompt;
  AppendConversationStart(format, system, thinking, &prompt);
  bool first = true;
  auto user_turn = [&](std::string_view text) {
    AppendUserTurn(format, text, first ? system : std::string_view(), &prompt);
    first = false;
    AppendModelHeader(format, &prompt);
  };
  for (const PastTurn& turn : turns) {
    user_turn(turn.user);
    AppendModelTurnEnd(format, turn.answer, &prompt);
  }
  if (next_user != nullptr) {
    user_turn(*next_user);
    AppendAnswerPrefix(format, thinking, &prompt);
  }
  return prompt;
}

void ChannelRouter::Push(int32_t id, std::string_view text, std::string* answer,
                         std::string* thought) {
  if (id >= 0 && id == open_id_) {
    state_ = State::kChannelName;
    saw_channel_ = true;
    return;
  }
  if (id >= 0 && id == close_id_) {
    state_ = State::kAnswer;
    return;
  }
  switch (state_) {
    case State::kAnswer:
      answer->append(text);
      return;
    case State::kChannelName: {
      // The channel's name runs to the end of its first line.
      const size_t newline = text.find('\n');
      if (newline == std::string_view::npos) return;
      state_ = State::kThought;
      thought->append(text.substr(newline + 1));
      return;
    }
    case State::kThought:
      thought->append(text);
      return;
  }
}

}  // namespace gemma
