// Plain data shared by request parsing, prompt rendering and output parsing:
// chat messages in OpenAI's shape, tool declarations, tool calls, and the
// rendered prompt as text/control segments.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gemma::protocol {

enum class Role { kSystem, kDeveloper, kUser, kAssistant, kTool };

// "system", "developer", "user", "assistant", "tool".
const char* RoleName(Role role);

// A call the model made (or, in history, made earlier). `arguments` is JSON
// text, as OpenAI carries it; it parses to an object.
struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments = "{}";
};

struct ChatMessage {
  Role role = Role::kUser;
  // The text content: one entry for string content, one per {"type":"text"}
  // part for array content (the formats trim parts one by one). Empty for
  // null content.
  std::vector<std::string> content;
  bool content_is_parts = false;
  // Reasoning carried by an assistant message (reasoning_content, reasoning
  // or Ollama's thinking).
  std::string reasoning;
  std::vector<ToolCall> tool_calls;  // assistant
  std::string tool_call_id;          // tool
  std::string name;                  // tool: the function's name, when given

  // The content parts joined with no separator, untrimmed.
  std::string JoinedContent() const;
};

// One OpenAI function declaration: {"type":"function","function":{...}}.
struct ToolDefinition {
  std::string name;
  std::string description;
  nlohmann::json parameters;  // JSON schema object, or null when absent
  nlohmann::json function;    // the whole "function" object as the client sent it
};

// A piece of the rendered prompt. Control segments are chat-format markers
// (<bos>, <start_of_turn>, <|turn>, <|"|>, ...) that the engine encodes as
// their special tokens; text segments are encoded literally, so that a user
// cannot inject a turn marker by typing it.
struct PromptSegment {
  std::string text;
  bool is_control = false;

  bool operator==(const PromptSegment&) const = default;
};

struct RenderedPrompt {
  std::vector<PromptSegment> segments;

  // The prompt as one string (what a Jinja chat template would produce).
  std::string ToString() const;
  void AppendText(std::string_view text);  // merges with a preceding text segment
  void AppendControl(std::string_view marker);
};

}  // namespace gemma::protocol
