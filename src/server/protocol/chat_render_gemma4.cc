// The Gemma 4 format (tokenizer-and-prompts.md 7.4 and 9.3), after the
// official google-gemma-4 chat templates: a real system turn, <|turn>role
// markers, tool declarations in the system turn, calls and results inside
// one model turn, past thinking stripped.
#include "server/protocol/chat_render_internal.h"
#include "server/protocol/marker_syntax.h"

namespace gemma::protocol::render_internal {

namespace {

using json = nlohmann::json;

// The role that follows message `index`, skipping tool messages (which the
// preceding assistant message renders); nullptr at the end.
const ChatMessage* NextNonTool(const std::vector<ChatMessage>& messages, size_t index) {
  for (size_t j = index + 1; j < messages.size(); ++j) {
    if (messages[j].role != Role::kTool) return &messages[j];
  }
  return nullptr;
}

// Content as the template writes it: user/system text trimmed (parts one by
// one), model text with thinking stripped.
std::string Gemma4Content(const ChatMessage& message) {
  if (message.role != Role::kAssistant) return TrimmedContent(message);
  if (!message.content_is_parts) return StripThinking(message.JoinedContent());
  std::string text;
  for (const std::string& part : message.content) text += StripThinking(part);
  return text;
}

}  // namespace

Expected<RenderedPrompt> RenderGemma4(const std::vector<ChatMessage>& messages,
                                      const std::vector<ToolDefinition>& tools,
                                      const RenderOptions& options, bool empty_thought_block) {
  RenderedPrompt out;
  out.AppendControl("<bos>");

  size_t first = 0;
  const bool has_system = messages[0].role == Role::kSystem || messages[0].role == Role::kDeveloper;
  if (options.enable_thinking || !tools.empty() || has_system) {
    out.AppendControl("<|turn>");
    out.AppendText("system\n");
    if (options.enable_thinking) {
      out.AppendControl("<|think|>");
      out.AppendText("\n");
    }
    if (has_system) {
      out.AppendText(TrimmedContent(messages[0]));
      first = 1;
    }
    for (const ToolDefinition& tool : tools) {
      out.AppendControl("<|tool>");
      AppendMarkerDeclaration(out, tool, kGemma4Quote);
      out.AppendControl("<tool|>");
    }
    out.AppendControl("<turn|>");
    out.AppendText("\n");
  }

  size_t last_user = messages.size();
  for (size_t i = first; i < messages.size(); ++i) {
    if (messages[i].role == Role::kUser) last_user = i;
  }

  enum class Last { kNone, kToolCall, kToolResponse };
  Last last = Last::kNone;
  const ChatMessage* previous = nullptr;  // the previous non-tool message
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    if (message.role == Role::kTool) continue;  // rendered with its call
    last = Last::kNone;
    const bool model = message.role == Role::kAssistant;
    // Consecutive assistant messages (model -> tool -> model) share a turn.
    const bool continues_turn = model && previous != nullptr && previous->role == Role::kAssistant;
    if (!continues_turn) {
      out.AppendControl("<|turn>");
      // A developer message after the first is a system instruction.
      out.AppendText(model ? "model\n" : message.role == Role::kUser ? "user\n" : "system\n");
    }
    // Reasoning is kept only for tool-calling steps after the last user
    // message (the model is still working on that request).
    if (model && !message.reasoning.empty() && !message.tool_calls.empty() &&
        (last_user == messages.size() || i > last_user)) {
      out.AppendControl("<|channel>");
      out.AppendText("thought\n" + message.reasoning + "\n");
      out.AppendControl("<channel|>");
    }
    for (size_t c = 0; c < message.tool_calls.size(); ++c) {
      Expected<json> args = CallArguments(messages, i, c);
      if (!args.ok()) return args.error();
      out.AppendControl("<|tool_call>");
      AppendMarkerCall(out, message.tool_calls[c].name, args.value(), kGemma4Quote);
      out.AppendControl("<tool_call|>");
      last = Last::kToolCall;
    }
    bool responded = false;
    if (!message.tool_calls.empty()) {
      for (size_t k = i + 1; k < messages.size() && messages[k].role == Role::kTool; ++k) {
        out.AppendControl("<|tool_response>");
        AppendMarkerResponse(out, ToolResultName(messages, k),
                             ToolResultValue(messages[k].JoinedContent()), kGemma4Quote);
        out.AppendControl("<tool_response|>");
        responded = true;
        last = Last::kToolResponse;
      }
    }
    const std::string content = Gemma4Content(message);
    out.AppendText(content);

    const ChatMessage* next = NextNonTool(messages, i);
    const bool continues_into_next = model && next != nullptr && next->role == Role::kAssistant &&
                                     (message.tool_calls.empty() || responded);
    // After tool results with nothing else to say, the model turn stays open
    // for the model to continue; otherwise the turn closes.
    const bool left_open = responded && content.empty() && next == nullptr;
    if (!continues_into_next && !left_open) {
      out.AppendControl("<turn|>");
      out.AppendText("\n");
      last = Last::kNone;  // a closed turn is followed by a new header
    }
    previous = &message;
  }

  if (options.add_generation_prompt && last == Last::kNone) {
    out.AppendControl("<|turn>");
    out.AppendText("model\n");
    if (empty_thought_block && !options.enable_thinking) {
      out.AppendControl("<|channel>");
      out.AppendText("thought\n");
      out.AppendControl("<channel|>");
    }
  }
  return out;
}

}  // namespace gemma::protocol::render_internal
