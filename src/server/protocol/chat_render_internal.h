// Helpers shared by the per-format renderers (chat_render*.cc).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "server/protocol/chat_render.h"

namespace gemma::protocol::render_internal {

// Python's str.strip() on ASCII whitespace, as Jinja's `trim`.
std::string Trim(std::string_view text);

// Content with the templates' trimming: a string trimmed as a whole, text
// parts trimmed one by one and joined.
std::string TrimmedContent(const ChatMessage& message);

std::string MessageParam(size_t index, std::string_view field = {});

// The arguments of tool_calls[call] of messages[index] as a JSON object
// (empty text counts as {}).
Expected<nlohmann::json> CallArguments(const std::vector<ChatMessage>& messages, size_t index,
                                       size_t call);

// OpenAI's rules for tool messages: each follows an assistant message with
// tool_calls (directly or after other tool messages), and an assistant
// message with tool_calls is followed by at least one tool message.
Expected<bool> ValidateToolMessages(const std::vector<ChatMessage>& messages);

// The function name a tool message answers: its own name, else the call
// with its tool_call_id, else the call at the same position, else "unknown".
std::string ToolResultName(const std::vector<ChatMessage>& messages, size_t tool_index);

// Gemma 4's strip_thinking: drops <|channel>...<channel|> blocks (and an
// unterminated one to the end), then trims.
std::string StripThinking(std::string_view text);

Expected<RenderedPrompt> RenderGemma3(const std::vector<ChatMessage>& messages,
                                      const std::vector<ToolDefinition>& tools,
                                      const RenderOptions& options);
Expected<RenderedPrompt> RenderFunctionGemma(const std::vector<ChatMessage>& messages,
                                             const std::vector<ToolDefinition>& tools,
                                             const RenderOptions& options);
Expected<RenderedPrompt> RenderGemma4(const std::vector<ChatMessage>& messages,
                                      const std::vector<ToolDefinition>& tools,
                                      const RenderOptions& options, bool empty_thought_block);

}  // namespace gemma::protocol::render_internal
