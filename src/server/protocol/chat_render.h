// Renders an OpenAI-style conversation into a Gemma prompt, following each
// format's official chat template (spec: tokenizer-and-prompts.md sections
// 7 and 9; docs/server-protocol.md lists where we deviate and why).
#pragma once

#include <vector>

#include "server/protocol/api_error.h"
#include "server/protocol/chat_format.h"
#include "server/protocol/chat_types.h"

namespace gemma::protocol {

struct RenderOptions {
  bool enable_thinking = false;       // Gemma 4 only; other formats ignore it
  bool add_generation_prompt = true;  // end with the header of a new model turn
};

// The prompt as segments (markers as control segments, <bos> first). Errors
// are 400s naming the message at fault: an empty conversation, roles that do
// not alternate where the format needs it, a system message in the middle, a
// tool message that answers no call, tool-call arguments that are not a JSON
// object.
Expected<RenderedPrompt> RenderChat(ChatFormat format, const std::vector<ChatMessage>& messages,
                                    const std::vector<ToolDefinition>& tools,
                                    const RenderOptions& options);

// The instruction and tool list that the Gemma 1/2/3 formats put at the
// start of the first user turn (the prompt-based convention of section 9.1).
std::string PromptToolPreamble(const std::vector<ToolDefinition>& tools);

}  // namespace gemma::protocol
