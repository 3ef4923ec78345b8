// Ollama request bodies: /api/chat, /api/generate, /api/embed, /api/show.
// Differences from OpenAI: "model" is required, streaming is on unless
// "stream": false, sampling lives in "options", "format" is "json" or a
// schema, "think" switches thinking, "keep_alive" is a duration.
#include "server/protocol/request_internal.h"

namespace gemma::protocol {

using json = nlohmann::json;
using namespace request_internal;

namespace {

void RequireModel(Fields& f, std::string* model) {
  f.Require("model");
  f.String("model", model);
  if (f.ok() && model->empty()) f.Fail(InvalidRequest("'model' must not be empty", "model"));
}

}  // namespace

Expected<ChatRequest> ParseOllamaChatRequest(const json& body) {
  if (!body.is_object()) return InvalidRequest("the request body must be a JSON object");
  ChatRequest r;
  r.stream = true;
  Fields f(body);
  RequireModel(f, &r.model);
  // An empty list asks only to load the model.
  ParseMessages(f, Dialect::kOllama, /*allow_empty=*/true, &r.messages);
  ParseTools(f, &r.tools);
  ParseOllamaFormat(f, &r.response_format);
  ParseOllamaOptions(f, &r.sampling, &r.num_ctx);
  f.Bool("stream", &r.stream);
  ParseKeepAliveField(f, &r.keep_alive_seconds);
  ParseThinking(f, &r.enable_thinking);
  f.Bool("logprobs", &r.logprobs);
  std::optional<int> top_logprobs;
  f.Int("top_logprobs", 0, 20, &top_logprobs);
  if (top_logprobs) r.top_logprobs = *top_logprobs;
  if (!f.ok()) return f.error();
  return r;
}

Expected<CompletionRequest> ParseOllamaGenerateRequest(const json& body) {
  if (!body.is_object()) return InvalidRequest("the request body must be a JSON object");
  CompletionRequest r;
  r.stream = true;
  Fields f(body);
  RequireModel(f, &r.model);
  std::string prompt;  // empty: load the model
  f.String("prompt", &prompt);
  r.prompts.push_back({prompt, {}, false});
  f.String("suffix", &r.suffix);
  f.String("system", &r.system);
  std::string template_text;
  f.String("template", &template_text);
  if (f.ok() && !template_text.empty()) {
    f.Fail(
        InvalidRequest("custom prompt templates are not supported; send \"raw\": true with a "
                       "formatted prompt instead",
                       "template"));
  }
  f.Bool("raw", &r.raw);
  if (const json* images = f.Get("images");
      images != nullptr && f.ok() && (!images->is_array() || !images->empty())) {
    f.Fail(InvalidRequest("image input is not supported: this server takes text", "images"));
  }
  ParseOllamaFormat(f, &r.response_format);
  ParseOllamaOptions(f, &r.sampling, &r.num_ctx);
  f.Bool("stream", &r.stream);
  ParseKeepAliveField(f, &r.keep_alive_seconds);
  ParseThinking(f, &r.enable_thinking);
  if (!f.ok()) return f.error();
  return r;
}

Expected<EmbeddingRequest> ParseOllamaEmbedRequest(const json& body) {
  if (!body.is_object()) return InvalidRequest("the request body must be a JSON object");
  EmbeddingRequest r;
  Fields f(body);
  RequireModel(f, &r.model);
  if (f.Get("input") != nullptr) {
    ParseTextOrTokens(f, "input", /*allow_empty_list=*/true, /*allow_empty_items=*/true, &r.inputs);
  }
  f.Bool("truncate", &r.truncate);
  f.Int("dimensions", 1, 1 << 20, &r.dimensions);
  if (const json* options = f.Get("options"); options != nullptr && !options->is_object()) {
    f.Fail(InvalidRequest("'options' must be an object", "options"));
  }
  ParseKeepAliveField(f, &r.keep_alive_seconds);
  if (!f.ok()) return f.error();
  return r;
}

Expected<std::string> ParseOllamaShowRequest(const json& body) {
  if (!body.is_object()) return InvalidRequest("the request body must be a JSON object");
  Fields f(body);
  std::string model;
  f.String("model", &model);
  if (model.empty()) f.String("name", &model);  // the older field name
  if (f.ok() && model.empty()) f.Fail(InvalidRequest("'model' is required", "model"));
  if (!f.ok()) return f.error();
  return model;
}

}  // namespace gemma::protocol
