// OpenAI and Ollama request bodies, parsed and validated into plain structs.
// Every field is type- and range-checked; problems are 400s naming the field
// (param). Unknown fields are ignored, as OpenAI clients send extras.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/protocol/api_error.h"
#include "server/protocol/chat_types.h"

namespace gemma::protocol {

// Sampling and length settings common to all generation endpoints; unset
// fields keep the server's defaults.
struct SamplingOptions {
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int> top_k;  // 0: off (-1 is accepted and means off)
  std::optional<double> min_p;
  std::optional<double> typical_p;
  std::optional<double> presence_penalty;
  std::optional<double> frequency_penalty;
  std::optional<double> repeat_penalty;
  std::optional<int> repeat_last_n;  // -1: the whole context
  std::optional<uint64_t> seed;      // -1 (random) leaves it unset
  // max_tokens / max_completion_tokens / Ollama num_predict (-1 and -2,
  // "until the context is full", leave it unset).
  std::optional<int> max_tokens;
  std::vector<std::string> stop;
  std::vector<std::pair<int32_t, float>> logit_bias;  // token id, bias in [-100, 100]
};

enum class ToolChoice { kAuto, kNone, kRequired, kFunction };

enum class ResponseFormatType { kText, kJsonObject, kJsonSchema };

struct ResponseFormat {
  ResponseFormatType type = ResponseFormatType::kText;
  nlohmann::json schema;  // kJsonSchema (and json_object with a schema): object or boolean
  std::string name;
  bool strict = false;
};

struct ChatRequest {
  std::string model;
  std::vector<ChatMessage> messages;  // Ollama: may be empty ("load the model")
  std::vector<ToolDefinition> tools;
  ToolChoice tool_choice = ToolChoice::kAuto;
  std::string tool_choice_name;  // kFunction
  bool parallel_tool_calls = true;
  SamplingOptions sampling;
  bool logprobs = false;
  int top_logprobs = 0;
  int n = 1;
  bool stream = false;  // Ollama's default is true
  bool include_usage = false;
  ResponseFormat response_format;
  // chat_template_kwargs.enable_thinking, reasoning_effort ("none" is
  // false), Ollama's think; unset: the model's default.
  std::optional<bool> enable_thinking;
  // Ollama only.
  std::optional<int> num_ctx;
  std::optional<double> keep_alive_seconds;  // negative: forever
};

// A prompt or embedding input: text, or token ids.
struct TextOrTokens {
  std::string text;
  std::vector<int32_t> tokens;
  bool is_tokens = false;
};

struct CompletionRequest {
  std::string model;
  std::vector<TextOrTokens> prompts;  // OpenAI: one or more; Ollama: exactly one
  std::string suffix;
  bool echo = false;
  std::optional<int> logprobs;  // OpenAI legacy: top alternatives per token, 0-5
  SamplingOptions sampling;
  int n = 1;
  bool stream = false;
  bool include_usage = false;
  ResponseFormat response_format;
  // Ollama /api/generate only.
  std::string system;
  bool raw = false;
  std::optional<bool> enable_thinking;
  std::optional<int> num_ctx;
  std::optional<double> keep_alive_seconds;
};

enum class EncodingFormat { kFloat, kBase64 };

struct EmbeddingRequest {
  std::string model;
  std::vector<TextOrTokens> inputs;
  EncodingFormat encoding_format = EncodingFormat::kFloat;
  std::optional<int> dimensions;
  bool truncate = true;  // Ollama: cut inputs longer than the context instead of failing
  std::optional<double> keep_alive_seconds;
};

// OpenAI routes: /v1/chat/completions, /v1/completions, /v1/embeddings.
Expected<ChatRequest> ParseOpenAiChatRequest(const nlohmann::json& body);
Expected<CompletionRequest> ParseOpenAiCompletionRequest(const nlohmann::json& body);
Expected<EmbeddingRequest> ParseOpenAiEmbeddingRequest(const nlohmann::json& body);

// Ollama routes: /api/chat, /api/generate, /api/embed, /api/show.
Expected<ChatRequest> ParseOllamaChatRequest(const nlohmann::json& body);
Expected<CompletionRequest> ParseOllamaGenerateRequest(const nlohmann::json& body);
Expected<EmbeddingRequest> ParseOllamaEmbedRequest(const nlohmann::json& body);
Expected<std::string> ParseOllamaShowRequest(const nlohmann::json& body);  // the model name

}  // namespace gemma::protocol
