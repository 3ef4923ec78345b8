#include "runtime/chat_metadata.h"

#include <limits>

#include "base/error.h"
#include "io/json_fields.h"
#include "runtime/guard.h"

namespace gemma {

Result<ChatMetadata> ParseChatMetadata(const std::string& json_text, const std::string& path,
                                       const std::string& default_system) {
  ChatMetadata meta;
  const Status status = Guarded([&] {
    const nlohmann::json json = ParseJsonText(json_text, path + " (chat metadata)");
    if (!json.is_object()) Fail(path, ": not a chat session (no turns)");
    const JsonObject top(json, path);
    const nlohmann::json* turns = top.Array("turns");
    if (turns == nullptr) Fail(path, ": not a chat session (no turns)");
    for (size_t i = 0; i < turns->size(); ++i) {
      const JsonObject turn = ArrayElementObject(top, "turns", i);
      meta.turns.push_back({turn.String("user").value_or(""), turn.String("model").value_or(""),
                            turn.String("thought").value_or("")});
    }
    meta.turn_open = top.Bool("turn_open").value_or(false);
    meta.system = top.String("system").value_or(default_system);
    meta.format = top.String("format").value_or("");
    meta.thinking = top.Bool("thinking").value_or(false);
    meta.answer_start = static_cast<int>(
        top.Integer("answer_start", -1, std::numeric_limits<int>::max()).value_or(-1));
    return Status();
  });
  if (!status.ok()) return status;
  return meta;
}

}  // namespace gemma
