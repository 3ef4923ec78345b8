// The conversation part of a chat session file (Chat::Save writes it as JSON
// next to the KV cache): read with typed access, so a file edited by hand or
// corrupted gives an error naming the file and the key, never an exception.
#pragma once

#include <string>
#include <vector>

#include "gemma/gemma.h"

namespace gemma {

struct ChatMetadata {
  std::string system;
  bool turn_open = false;
  std::vector<Chat::Turn> turns;
  std::string format;  // "" in files from before Gemma 4: the model's own
  bool thinking = false;
  int answer_start = -1;  // where the open turn's answer begins; -1: unknown
};

// `default_system` stands when the file names no system prompt.
Result<ChatMetadata> ParseChatMetadata(const std::string& json_text, const std::string& path,
                                       const std::string& default_system);

}  // namespace gemma
