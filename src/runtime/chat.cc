// Chat: the model's turn format (runtime/turn_format.h) over a Session, with
// cache reuse between turns, optional dropping of old turns when the context
// fills, and save/load.
#include <nlohmann/json.hpp>

#include "runtime/chat_metadata.h"
#include "runtime/engine_impl.h"
#include "runtime/turn_format.h"
#include "tokenizer/tokenizer.h"

namespace gemma {
namespace {

const Tokenizer& VocabularyOf(const Model& model) { return *ModelInternals::Get(model).tokenizer; }

// Markers as their ids, looked up by piece rather than parsed from text,
// because some converted files (the golden tiny models among them) store
// <start_of_turn> as a normal piece, which text parsing would not match; a
// marker the vocabulary lacks is encoded as text. Text is encoded literally,
// so that the user's text cannot inject control tokens.
std::vector<int32_t> Encode(const Model& model, const Prompt& prompt) {
  std::vector<int32_t> ids;
  for (const PromptPiece& piece : prompt) {
    int32_t id = piece.marker ? model.PieceToId(piece.text) : -1;
    if (id < 0 && piece.marker && piece.text == "<bos>") id = model.tokenizer_bos();
    if (id >= 0) {
      ids.push_back(id);
      continue;
    }
    const std::vector<int32_t> text = model.Tokenize(piece.text, false, piece.marker);
    ids.insert(ids.end(), text.begin(), text.end());
  }
  return ids;
}

std::vector<PastTurn> PastTurns(const std::vector<Chat::Turn>& history, size_t first) {
  std::vector<PastTurn> turns;
  for (size_t i = first; i < history.size(); ++i)
    turns.push_back({history[i].user, history[i].model});
  return turns;
}

}  // namespace

namespace {
ChatOptions WithSystemPrompt(std::string system_prompt) {
  ChatOptions options;
  options.system_prompt = std::move(system_prompt);
  return options;
}
}  // namespace

Chat::Chat(Model& model, std::string system_prompt)
    : Chat(model, WithSystemPrompt(std::move(system_prompt))) {}

Chat::Chat(Model& model, ChatOptions options)
    : model_(model),
      session_(model),
      system_prompt_(std::move(options.system_prompt)),
      format_(ModelInternals::Get(model).turn_format),
      thinking_(options.thinking) {
  if (options.format.empty()) return;
  const TurnFormat* chosen = FindTurnFormat(options.format);
  if (chosen == nullptr) {
    format_error_ =
        "unknown chat format '" + options.format + "' (known: gemma, gemma4-small, gemma4-large)";
  } else if (chosen->turn_open != kGemmaTurns.turn_open &&
             VocabularyOf(model).PieceToId(chosen->turn_open) < 0) {
    format_error_ = "chat format '" + options.format + "' needs a Gemma 4 vocabulary (with " +
                    std::string(chosen->turn_open) + "); this model's has none";
  } else {
    format_ = chosen;
  }
}

void Chat::Reset() {
  session_.Reset();
  history_.clear();
  turn_open_ = false;
  answer_start_ = -1;
  restart_ = false;
}

void Chat::set_thinking(bool on) {
  if (on == thinking_) return;
  thinking_ = on;
  restart_ = format_->has_thinking() && session_.position() > 0;
}

bool Chat::supports_thinking() const { return format_->has_thinking(); }

std::string_view Chat::format() const { return format_->name; }

// The conversation from history_[first_turn] on, every turn closed: what the
// template renders for it.
std::vector<int32_t> Chat::EncodeTurnsFrom(size_t first_turn) const {
  return Encode(model_, RenderConversation(*format_, system_prompt_, thinking_,
                                           PastTurns(history_, first_turn), nullptr));
}

// Re-prefills the conversation from history_[first_turn] on (dropping the
// turns before it); fails if even that leaves less than `reserve` free slots.
Status Chat::Rebuild(size_t first_turn, size_t reserve) {
  const std::vector<int32_t> ids = EncodeTurnsFrom(first_turn);
  if (ids.size() + reserve > static_cast<size_t>(session_.capacity())) {
    return Status::Error("does not fit");
  }
  session_.Reset();
  Status status = session_.Append(ids);
  if (!status.ok()) return status;
  history_.erase(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(first_turn));
  turn_open_ = false;
  answer_start_ = -1;
  return Status();
}

// The tokens that close the model's last turn. Gemma 4's template keeps a
// past answer without its thoughts (and trimmed), so where the session holds
// something else from the answer's start on (a thought block, the empty one
// of the generation prompt, surrounding spaces), it is cut back to the
// common prefix and the rest is returned to be appended.
std::vector<int32_t> Chat::CloseModelTurn() {
  Prompt close;
  AppendModelTurnEnd(*format_, {}, &close);
  std::vector<int32_t> ids = Encode(model_, close);
  const int end = session_.position();
  if (!format_->rewrite_answers_as_history || history_.empty() || answer_start_ < 0 ||
      answer_start_ > end) {
    return ids;
  }
  const std::vector<int32_t>& tokens = session_.tokens();
  const std::vector<int32_t> held(tokens.begin() + answer_start_, tokens.begin() + end);
  const std::string want = HistoryAnswer(*format_, history_.back().model);
  if (VocabularyOf(model_).Decode(held, /*keep_special=*/true) == want) return ids;
  std::vector<int32_t> rewritten = model_.Tokenize(want, false, false);
  size_t common = 0;
  while (common < held.size() && common < rewritten.size() && held[common] == rewritten[common]) {
    ++common;
  }
  session_.Truncate(answer_start_ + static_cast<int>(common));
  rewritten.erase(rewritten.begin(), rewritten.begin() + static_cast<std::ptrdiff_t>(common));
  rewritten.insert(rewritten.end(), ids.begin(), ids.end());
  return rewritten;
}

Result<std::string> Chat::Send(std::string_view user_text, const GenerateOptions& options,
                               const std::function<bool(std::string_view)>& on_text) {
  return Send(user_text, options, on_text, nullptr);
}

Result<std::string> Chat::Send(std::string_view user_text, const GenerateOptions& options,
                               const std::function<bool(std::string_view)>& on_text,
                               const std::function<bool(std::string_view)>& on_thought) {
  if (Status valid = ValidateSamplingParams(options.sampling); !valid.ok()) return valid;
  if (!format_error_.empty()) return Status::Error(format_error_);
  const TurnFormat& format = *format_;
  if (restart_) {
    // Thinking was switched: the system turn differs from the first token on.
    if (!history_.empty()) {
      if (!Rebuild(0, 0).ok()) {
        return Status::Error(
            "switching thinking prefills the conversation again, and it does not fit the "
            "context (start over or raise --ctx)");
      }
    } else {
      session_.Reset();
    }
    restart_ = false;
  }
  // The start of the conversation or the close of the last answer, then the
  // user's turn and the generation prompt.
  auto opening = [&] {
    Prompt start;
    AppendConversationStart(format, system_prompt_, thinking_, &start);
    return Encode(model_, start);
  };
  auto render_turn = [&] {
    Prompt turn;
    AppendUserTurn(format, user_text, history_.empty() ? system_prompt_ : std::string(), &turn);
    AppendModelHeader(format, &turn);
    AppendAnswerPrefix(format, thinking_, &turn);
    return Encode(model_, turn);
  };
  Prompt prefix;
  AppendAnswerPrefix(format, thinking_, &prefix);
  const size_t prefix_size = Encode(model_, prefix).size();

  std::vector<int32_t> ids;
  if (session_.position() == 0) {
    ids = opening();
  } else if (turn_open_) {
    ids = CloseModelTurn();
  }
  const std::vector<int32_t> turn = render_turn();
  ids.insert(ids.end(), turn.begin(), turn.end());

  // Room for the new turn and (most of) its answer.
  const size_t capacity = static_cast<size_t>(session_.capacity());
  const size_t reserve =
      turn.size() + 1 +
      std::min<size_t>(static_cast<size_t>(std::max(options.max_tokens, 0)), capacity / 2);
  if (session_.position() + ids.size() + std::min<size_t>(options.max_tokens, capacity / 2) >
      capacity) {
    if (!options.drop_oldest_turns || history_.empty()) {
      return Status::Error("context full: the conversation has " +
                           std::to_string(session_.position()) + " tokens and the new turn needs " +
                           std::to_string(reserve) + " more, beyond the context length " +
                           std::to_string(capacity) +
                           " (start over, raise --ctx, or allow dropping the oldest turns)");
    }
    size_t drop = 1;
    while (drop <= history_.size() && !Rebuild(drop, reserve).ok()) ++drop;
    if (drop > history_.size()) {
      Reset();
      if (reserve + 1 > capacity) {
        return Status::Error("context full: this turn alone needs " + std::to_string(reserve) +
                             " tokens, beyond the context length " + std::to_string(capacity));
      }
    }
    ids.clear();
    if (session_.position() == 0) ids = opening();
    const std::vector<int32_t> again = render_turn();
    ids.insert(ids.end(), again.begin(), again.end());
  }

  const int rollback = session_.position();
  const Status status = session_.Append(ids);
  if (!status.ok()) {
    session_.Truncate(rollback);
    return status;
  }
  turn_open_ = false;
  answer_start_ = rollback + static_cast<int>(ids.size() - prefix_size);

  // The answer and the thoughts apart (Gemma 4's channel markers by id).
  const Tokenizer& vocabulary = VocabularyOf(model_);
  ChannelRouter router(format.has_thinking() ? vocabulary.PieceToId(format.channel_open) : -1,
                       format.has_thinking() ? vocabulary.PieceToId(format.channel_close) : -1);
  std::string answer, thought;
  bool ended = false;
  const Status generated = GenerateTokens(
      model_, session_, options,
      [&](int32_t id, std::string_view piece) {
        const size_t answer_before = answer.size(), thought_before = thought.size();
        router.Push(id, piece, &answer, &thought);
        const std::string_view new_answer = std::string_view(answer).substr(answer_before);
        const std::string_view new_thought = std::string_view(thought).substr(thought_before);
        if (!new_thought.empty() && on_thought && !on_thought(new_thought)) return false;
        if (!new_answer.empty() && on_text && !on_text(new_answer)) return false;
        return true;
      },
      &ended);
  // The closing marker (sampled or not) is not in the context yet; the next
  // turn starts with it.
  turn_open_ = true;
  history_.push_back({std::string(user_text), generated.ok() ? answer : std::string(),
                      generated.ok() ? thought : std::string()});
  if (!generated.ok()) return generated;
  return answer;
}

Status Chat::Save(const std::string& path) const {
  nlohmann::json meta = {{"system", system_prompt_},
                         {"turn_open", turn_open_},
                         {"format", std::string(format_->name)},
                         {"thinking", thinking_},
                         {"answer_start", answer_start_}};
  nlohmann::json turns = nlohmann::json::array();
  for (const Turn& t : history_) {
    nlohmann::json turn = {{"user", t.user}, {"model", t.model}};
    if (!t.thought.empty()) turn["thought"] = t.thought;
    turns.push_back(std::move(turn));
  }
  meta["turns"] = turns;
  return session_.Save(path, meta.dump());
}

Status Chat::Load(const std::string& path) {
  std::string metadata;
  const Status status = session_.Load(path, &metadata);
  if (!status.ok()) return status;
  Result<ChatMetadata> meta = ParseChatMetadata(metadata, path, system_prompt_);
  const TurnFormat* format = nullptr;
  if (meta.ok()) {
    format = meta->format.empty() ? format_ : FindTurnFormat(meta->format);
    if (format == nullptr) {
      meta = Status::Error(path + ": unknown chat format '" + meta->format + "'");
    } else if (meta->answer_start > session_.position()) {
      meta = Status::Error(path + ": answer_start " + std::to_string(meta->answer_start) +
                           " lies beyond the session's " + std::to_string(session_.position()) +
                           " tokens");
    }
  }
  if (!meta.ok()) {
    Reset();
    return meta.status();
  }
  history_ = std::move(meta->turns);
  turn_open_ = meta->turn_open;
  system_prompt_ = std::move(meta->system);
  format_ = format;
  format_error_.clear();
  thinking_ = meta->thinking;
  answer_start_ = meta->answer_start;
  restart_ = false;
  return Status();
}

}  // namespace gemma
