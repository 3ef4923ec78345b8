// Chat: Gemma's turn format over a Session, with cache reuse between turns,
// optional dropping of old turns when the context fills, and save/load.
#include <initializer_list>
#include <nlohmann/json.hpp>

#include "runtime/chat_metadata.h"
#include "runtime/engine_impl.h"
#include "tokenizer/tokenizer.h"

namespace gemma {
namespace {

std::string Trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

// Text with Gemma's turn markers, the markers always as their control ids.
// Looked up by piece rather than parsed from text, because some converted
// files (the golden tiny models among them) store <start_of_turn> as a normal
// piece, which text parsing would not match.
std::vector<int32_t> WithMarkers(const Model& model,
                                 std::initializer_list<std::string_view> parts) {
  std::vector<int32_t> ids;
  for (std::string_view part : parts) {
    const int32_t id = part.front() == '<' ? model.PieceToId(part) : -1;
    if (id >= 0) {
      ids.push_back(id);
    } else {
      const std::vector<int32_t> text = model.Tokenize(part, false, true);
      ids.insert(ids.end(), text.begin(), text.end());
    }
  }
  return ids;
}

}  // namespace

Chat::Chat(Model& model, std::string system_prompt)
    : model_(model), session_(model), system_prompt_(std::move(system_prompt)) {}

void Chat::Reset() {
  session_.Reset();
  history_.clear();
  turn_open_ = false;
}

// <start_of_turn>user\n{text}<end_of_turn>\n<start_of_turn>model\n. The
// template pieces are control tokens; the user's text is encoded literally so
// that it cannot inject turn markers. The system prompt goes into the first
// user turn (spec: tokenizer-and-prompts.md 7.2).
std::vector<int32_t> Chat::RenderUserTurn(std::string_view text, bool first) const {
  std::string content = Trim(text);
  if (first && !system_prompt_.empty()) content = system_prompt_ + "\n\n" + content;
  std::vector<int32_t> ids = WithMarkers(model_, {"<start_of_turn>", "user\n"});
  const std::vector<int32_t> body = model_.Tokenize(content, false, false);
  ids.insert(ids.end(), body.begin(), body.end());
  const std::vector<int32_t> tail =
      WithMarkers(model_, {"<end_of_turn>", "\n", "<start_of_turn>", "model\n"});
  ids.insert(ids.end(), tail.begin(), tail.end());
  return ids;
}

// Re-prefills the conversation from history_[first_turn] on (dropping the
// turns before it); fails if even that leaves less than `reserve` free slots.
Status Chat::Rebuild(size_t first_turn, size_t reserve) {
  std::vector<int32_t> ids = {model_.tokenizer_bos()};
  for (size_t i = first_turn; i < history_.size(); ++i) {
    const std::vector<int32_t> user = RenderUserTurn(history_[i].user, i == first_turn);
    ids.insert(ids.end(), user.begin(), user.end());
    std::vector<int32_t> answer = model_.Tokenize(history_[i].model, false, false);
    const std::vector<int32_t> end = WithMarkers(model_, {"<end_of_turn>", "\n"});
    answer.insert(answer.end(), end.begin(), end.end());
    ids.insert(ids.end(), answer.begin(), answer.end());
  }
  if (ids.size() + reserve > static_cast<size_t>(session_.capacity())) {
    return Status::Error("does not fit");
  }
  session_.Reset();
  Status status = session_.Append(ids);
  if (!status.ok()) return status;
  history_.erase(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(first_turn));
  turn_open_ = false;
  return Status();
}

Result<std::string> Chat::Send(std::string_view user_text, const GenerateOptions& options,
                               const std::function<bool(std::string_view)>& on_text) {
  if (Status valid = ValidateSamplingParams(options.sampling); !valid.ok()) return valid;
  std::vector<int32_t> ids;
  if (session_.position() == 0) {
    ids.push_back(model_.tokenizer_bos());
  } else if (turn_open_) {
    ids = WithMarkers(model_, {"<end_of_turn>", "\n"});
  }
  const std::vector<int32_t> turn = RenderUserTurn(user_text, history_.empty());
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
    if (session_.position() == 0) ids.push_back(model_.tokenizer_bos());
    const std::vector<int32_t> again = RenderUserTurn(user_text, history_.empty());
    ids.insert(ids.end(), again.begin(), again.end());
  }

  const int rollback = session_.position();
  const Status status = session_.Append(ids);
  if (!status.ok()) {
    session_.Truncate(rollback);
    return status;
  }
  bool ended = false;
  Result<std::string> answer = GenerateLoop(model_, session_, options, on_text, &ended);
  // The <end_of_turn> (sampled or not) is not in the context yet; the next
  // turn starts with it.
  turn_open_ = true;
  history_.push_back({std::string(user_text), answer.ok() ? answer.value() : std::string()});
  return answer;
}

Status Chat::Save(const std::string& path) const {
  nlohmann::json meta = {{"system", system_prompt_}, {"turn_open", turn_open_}};
  nlohmann::json turns = nlohmann::json::array();
  for (const Turn& t : history_) turns.push_back({{"user", t.user}, {"model", t.model}});
  meta["turns"] = turns;
  return session_.Save(path, meta.dump());
}

Status Chat::Load(const std::string& path) {
  std::string metadata;
  const Status status = session_.Load(path, &metadata);
  if (!status.ok()) return status;
  Result<ChatMetadata> meta = ParseChatMetadata(metadata, path, system_prompt_);
  if (!meta.ok()) {
    Reset();
    return meta.status();
  }
  history_ = std::move(meta->turns);
  turn_open_ = meta->turn_open;
  system_prompt_ = std::move(meta->system);
  return Status();
}

}  // namespace gemma
