#include "server/protocol/ollama_responses.h"

#include <ctime>

#include "server/protocol/api_error.h"

namespace gemma::protocol {

using json = nlohmann::json;

namespace {

json DetailsJson(const OllamaModel& model) {
  return {{"parent_model", ""},
          {"format", "gguf"},
          {"family", model.family},
          {"families", model.family.empty() ? json() : json::array({model.family})},
          {"parameter_size", model.parameter_size},
          {"quantization_level", model.quantization_level}};
}

void AddStats(json& out, const OllamaStats& stats) {
  out["total_duration"] = stats.total_duration;
  out["load_duration"] = stats.load_duration;
  out["prompt_eval_count"] = stats.prompt_eval_count;
  out["prompt_eval_duration"] = stats.prompt_eval_duration;
  out["eval_count"] = stats.eval_count;
  out["eval_duration"] = stats.eval_duration;
}

json ToolCallsJson(const std::vector<ToolCall>& calls, size_t first_index) {
  json list = json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    json arguments = json::parse(calls[i].arguments, nullptr, false);
    if (!arguments.is_object()) arguments = json::object();
    list.push_back(
        {{"id", calls[i].id},
         {"function",
          {{"index", first_index + i}, {"name", calls[i].name}, {"arguments", arguments}}}});
  }
  return list;
}

json MessageJson(const std::string& content, const std::string& thinking,
                 const std::vector<ToolCall>& calls, size_t first_index) {
  json message = {{"role", "assistant"}, {"content", content}};
  if (!thinking.empty()) message["thinking"] = thinking;
  if (!calls.empty()) message["tool_calls"] = ToolCallsJson(calls, first_index);
  return message;
}

}  // namespace

std::string FormatRfc3339(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto since_epoch = duration_cast<nanoseconds>(time.time_since_epoch());
  auto seconds = duration_cast<std::chrono::seconds>(since_epoch);
  auto nanos = since_epoch - seconds;
  if (nanos.count() < 0) {
    seconds -= std::chrono::seconds(1);
    nanos += std::chrono::seconds(1);
  }
  const std::time_t t = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  gmtime_r(&t, &utc);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &utc);
  char fraction[16];
  std::snprintf(fraction, sizeof(fraction), ".%09lld", static_cast<long long>(nanos.count()));
  return std::string(date) + fraction + "Z";
}

std::string NdjsonLine(const json& value) { return DumpJson(value) + "\n"; }

json OllamaChatChunk(std::string_view model, std::string_view created_at,
                     const ParsedDelta& delta) {
  // A call arrives as two deltas (name, then arguments); Ollama sends it
  // whole.
  std::vector<ToolCall> calls;
  size_t first_index = 0;
  for (const ToolCallDelta& t : delta.tool_calls) {
    if (t.first) {
      if (calls.empty()) first_index = static_cast<size_t>(t.index);
      calls.push_back({t.id, t.name, ""});
    } else if (!calls.empty()) {
      calls.back().arguments += t.arguments;
    }
  }
  return {{"model", std::string(model)},
          {"created_at", std::string(created_at)},
          {"message", MessageJson(delta.content, delta.reasoning, calls, first_index)},
          {"done", false}};
}

json OllamaChatFinal(std::string_view model, std::string_view created_at,
                     std::string_view done_reason, const OllamaStats& stats,
                     const ParsedMessage& message) {
  json out = {{"model", std::string(model)},
              {"created_at", std::string(created_at)},
              {"message", MessageJson(message.content, message.reasoning, message.tool_calls, 0)},
              {"done", true},
              {"done_reason", std::string(done_reason)}};
  AddStats(out, stats);
  return out;
}

json OllamaGenerateChunk(std::string_view model, std::string_view created_at,
                         std::string_view response, std::string_view thinking) {
  json out = {{"model", std::string(model)},
              {"created_at", std::string(created_at)},
              {"response", std::string(response)},
              {"done", false}};
  if (!thinking.empty()) out["thinking"] = std::string(thinking);
  return out;
}

json OllamaGenerateFinal(std::string_view model, std::string_view created_at,
                         std::string_view done_reason, const OllamaStats& stats,
                         std::string_view response, std::string_view thinking) {
  json out = OllamaGenerateChunk(model, created_at, response, thinking);
  out["done"] = true;
  out["done_reason"] = std::string(done_reason);
  AddStats(out, stats);
  return out;
}

json OllamaTags(const std::vector<OllamaModel>& models) {
  json list = json::array();
  for (const OllamaModel& m : models) {
    list.push_back({{"name", m.name},
                    {"model", m.name},
                    {"modified_at", m.modified_at},
                    {"size", m.size},
                    {"digest", m.digest},
                    {"details", DetailsJson(m)}});
  }
  return {{"models", std::move(list)}};
}

json OllamaShow(const OllamaModel& model, const json& model_info,
                const std::vector<std::string>& capabilities, std::string_view template_text,
                std::string_view parameters) {
  return {{"modelfile", ""},
          {"parameters", std::string(parameters)},
          {"template", std::string(template_text)},
          {"details", DetailsJson(model)},
          {"model_info", model_info.is_object() ? model_info : json::object()},
          {"capabilities", capabilities},
          {"modified_at", model.modified_at}};
}

json OllamaVersion(std::string_view version) { return {{"version", std::string(version)}}; }

json OllamaEmbed(std::string_view model, const std::vector<std::vector<float>>& vectors,
                 const OllamaStats& stats) {
  return {{"model", std::string(model)},
          {"embeddings", vectors},
          {"total_duration", stats.total_duration},
          {"load_duration", stats.load_duration},
          {"prompt_eval_count", stats.prompt_eval_count}};
}

}  // namespace gemma::protocol
