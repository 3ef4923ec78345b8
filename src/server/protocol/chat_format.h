// Which Gemma chat format a model speaks, detected from its chat template.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gemma::protocol {

enum class ChatFormat {
  kGemma2,         // Gemma 1, 1.1, 2, CodeGemma-IT: <start_of_turn>, no system role
  kGemma3,         // Gemma 3 and 3n: the system text prefixed to the first user turn
  kFunctionGemma,  // Gemma 3 270M fine-tune: developer turn with function declarations
  kGemma4Small,    // Gemma 4 E2B/E4B: <|turn>, generation prompt without a thought block
  kGemma4Large,    // Gemma 4 26B/31B: an empty thought block when thinking is off
};

// "gemma2", "gemma3", "functiongemma", "gemma4-small", "gemma4-large".
const char* ChatFormatName(ChatFormat format);
// The inverse of ChatFormatName; false for an unknown name.
bool ParseChatFormatName(std::string_view name, ChatFormat* format);

bool IsGemma4(ChatFormat format);

// The chat format for a model, from its GGUF `general.architecture` (or HF
// model_type) and the Jinja chat template (`tokenizer.chat_template` or
// tokenizer_config.json's "chat_template"; may be empty). Distinctive markers
// in the template decide first; without them the architecture does, and
// `model_name` (general.name or the file name) separates FunctionGemma and
// Gemma 4 E2B/E4B from their siblings. Unknown models get kGemma3.
ChatFormat DetectChatFormat(std::string_view architecture, std::string_view chat_template,
                            std::string_view model_name = {});

// Marker strings that end a generation in this format (the engine stops on
// their tokens): <end_of_turn>/<eos>, plus <start_function_response> for
// FunctionGemma, <turn|>/<eos>/<|tool_response> for Gemma 4.
std::vector<std::string> StopMarkers(ChatFormat format);

// Every marker the renderer emits as a control segment in this format.
std::vector<std::string> ControlMarkers(ChatFormat format);

}  // namespace gemma::protocol
