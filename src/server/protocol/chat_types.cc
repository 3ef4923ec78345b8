#include "server/protocol/chat_types.h"

namespace gemma::protocol {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kSystem:
      return "system";
    case Role::kDeveloper:
      return "developer";
    case Role::kUser:
      return "user";
    case Role::kAssistant:
      return "assistant";
    case Role::kTool:
      return "tool";
  }
  return "user";
}

std::string ChatMessage::JoinedContent() const {
  std::string joined;
  for (const std::string& part : content) joined += part;
  return joined;
}

std::string RenderedPrompt::ToString() const {
  std::string text;
  for (const PromptSegment& segment : segments) text += segment.text;
  return text;
}

void RenderedPrompt::AppendText(std::string_view text) {
  if (text.empty()) return;
  if (!segments.empty() && !segments.back().is_control) {
    segments.back().text += text;
  } else {
    segments.push_back({std::string(text), false});
  }
}

void RenderedPrompt::AppendControl(std::string_view marker) {
  segments.push_back({std::string(marker), true});
}

}  // namespace gemma::protocol
