// Parsing pieces shared by the OpenAI and Ollama request parsers.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "server/protocol/request_fields.h"
#include "server/protocol/requests.h"

namespace gemma::protocol::request_internal {

enum class Dialect { kOpenAi, kOllama };

// "messages": an array of OpenAI (or Ollama) message objects.
void ParseMessages(Fields& fields, Dialect dialect, bool allow_empty,
                   std::vector<ChatMessage>* out);
// "tools": OpenAI function declarations (Ollama uses the same shape).
void ParseTools(Fields& fields, std::vector<ToolDefinition>* out);
// "tool_choice" (after the tools): none | auto | required | {function}.
void ParseToolChoice(Fields& fields, const std::vector<ToolDefinition>& tools,
                     ChatRequest* request);
// OpenAI's sampling fields plus llama-server's extensions (top_k, min_p,
// repeat_penalty, ...). `min_max_tokens`: 1 for chat, 0 for completions.
void ParseOpenAiSampling(Fields& fields, int min_max_tokens, SamplingOptions* out);
// Ollama's "options" object.
void ParseOllamaOptions(Fields& fields, SamplingOptions* out, std::optional<int>* num_ctx);
// OpenAI's "response_format".
void ParseResponseFormat(Fields& fields, ResponseFormat* out);
// Ollama's "format": "json" or a JSON schema.
void ParseOllamaFormat(Fields& fields, ResponseFormat* out);
// Thinking switches: chat_template_kwargs.enable_thinking, reasoning_effort
// (or reasoning.effort) and think, in that order of precedence.
void ParseThinking(Fields& fields, std::optional<bool>* out);
void ParseKeepAliveField(Fields& fields, std::optional<double>* out);
// A string, an array of strings, an array of token ids, or an array of
// arrays of token ids.
void ParseTextOrTokens(Fields& fields, std::string_view key, bool allow_empty_list,
                       bool allow_empty_items, std::vector<TextOrTokens>* out);

}  // namespace gemma::protocol::request_internal
