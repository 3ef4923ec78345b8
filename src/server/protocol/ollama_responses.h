// Ollama's native response shapes: NDJSON chunks for /api/chat and
// /api/generate (done, done_reason, durations in nanoseconds, eval counts),
// /api/tags, /api/show, /api/version, /api/embed.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/protocol/tool_call_parser.h"

namespace gemma::protocol {

// "2023-08-04T19:22:45.499127Z" style UTC time with nanoseconds.
std::string FormatRfc3339(std::chrono::system_clock::time_point time);

// Counters of the final chunk; durations in nanoseconds.
struct OllamaStats {
  int64_t total_duration = 0;
  int64_t load_duration = 0;
  int prompt_eval_count = 0;
  int64_t prompt_eval_duration = 0;
  int eval_count = 0;
  int64_t eval_duration = 0;
};

// One NDJSON line: the JSON and "\n".
std::string NdjsonLine(const nlohmann::json& value);

// /api/chat, streaming: {"model","created_at","message":{"role":"assistant",
// "content"[,"thinking"][,"tool_calls"]},"done":false}. Tool calls carry
// their arguments as an object: [{"id","function":{"index","name","arguments"}}].
nlohmann::json OllamaChatChunk(std::string_view model, std::string_view created_at,
                               const ParsedDelta& delta);
// The last /api/chat object: done true, done_reason ("stop", "length",
// "load", "unload"), the stats, and the message (the whole answer when not
// streaming, empty content when streaming).
nlohmann::json OllamaChatFinal(std::string_view model, std::string_view created_at,
                               std::string_view done_reason, const OllamaStats& stats,
                               const ParsedMessage& message);

// /api/generate: {"model","created_at","response"[,"thinking"],"done":false}.
nlohmann::json OllamaGenerateChunk(std::string_view model, std::string_view created_at,
                                   std::string_view response, std::string_view thinking = {});
nlohmann::json OllamaGenerateFinal(std::string_view model, std::string_view created_at,
                                   std::string_view done_reason, const OllamaStats& stats,
                                   std::string_view response = {}, std::string_view thinking = {});

struct OllamaModel {
  std::string name;         // "gemma3:latest"
  std::string modified_at;  // FormatRfc3339
  int64_t size = 0;         // bytes on disk
  std::string digest;
  std::string family;              // "gemma3"
  std::string parameter_size;      // "1.0B"
  std::string quantization_level;  // "Q4_0"
};

// /api/tags: {"models":[{"name","model","modified_at","size","digest","details":{...}}]}
nlohmann::json OllamaTags(const std::vector<OllamaModel>& models);
// /api/show: details, model_info (GGUF-style keys), capabilities
// ("completion", "tools", "thinking", "embedding"), template, parameters.
nlohmann::json OllamaShow(const OllamaModel& model, const nlohmann::json& model_info,
                          const std::vector<std::string>& capabilities,
                          std::string_view template_text = {}, std::string_view parameters = {});
// /api/version: {"version": "..."}.
nlohmann::json OllamaVersion(std::string_view version);
// /api/embed: {"model","embeddings":[[...]],"total_duration","load_duration","prompt_eval_count"}.
nlohmann::json OllamaEmbed(std::string_view model, const std::vector<std::vector<float>>& vectors,
                           const OllamaStats& stats);

}  // namespace gemma::protocol
