// OpenAI request bodies: /v1/chat/completions, /v1/completions,
// /v1/embeddings.
#include "server/protocol/request_internal.h"

namespace gemma::protocol {

using json = nlohmann::json;
using namespace request_internal;

namespace {

void ParseStreamOptions(Fields& fields, bool* include_usage) {
  const json* options = fields.Get("stream_options");
  if (!fields.ok() || options == nullptr) return;
  if (!options->is_object()) {
    fields.Fail(InvalidRequest("'stream_options' must be an object", "stream_options"));
    return;
  }
  Fields of(*options, "stream_options.");
  of.Bool("include_usage", include_usage);
  if (!of.ok()) fields.Fail(of.error());
}

}  // namespace

Expected<ChatRequest> ParseOpenAiChatRequest(const json& body) {
  if (!body.is_object()) return InvalidRequest("the request body must be a JSON object");
  ChatRequest r;
  Fields f(body);
  f.String("model", &r.model);
  ParseMessages(f, Dialect::kOpenAi, /*allow_empty=*/false, &r.messages);
  ParseTools(f, &r.tools);
  ParseToolChoice(f, r.tools, &r);
  f.Bool("parallel_tool_calls", &r.parallel_tool_calls);
  ParseOpenAiSampling(f, /*min_max_tokens=*/1, &r.sampling);
  f.Bool("logprobs", &r.logprobs);
  std::optional<int> top_logprobs;
  f.Int("top_logprobs", 0, 20, &top_logprobs);
  if (top_logprobs) r.top_logprobs = *top_logprobs;
  if (f.ok() && r.top_logprobs > 0 && !r.logprobs) {
    f.Fail(InvalidRequest("'top_logprobs' needs 'logprobs' set to true", "top_logprobs"));
  }
  std::optional<int> n;
  f.Int("n", 1, 128, &n);
  if (n) r.n = *n;
  f.Bool("stream", &r.stream);
  ParseStreamOptions(f, &r.include_usage);
  ParseResponseFormat(f, &r.response_format);
  ParseThinking(f, &r.enable_thinking);
  if (!f.ok()) return f.error();
  return r;
}

Expected<CompletionRequest> ParseOpenAiCompletionRequest(const json& body) {
  if (!body.is_object()) return InvalidRequest("the request body must be a JSON object");
  CompletionRequest r;
  Fields f(body);
  f.String("model", &r.model);
  ParseTextOrTokens(f, "prompt", /*allow_empty_list=*/false, /*allow_empty_items=*/true,
                    &r.prompts);
  f.String("suffix", &r.suffix);
  f.Bool("echo", &r.echo);
  f.Int("logprobs", 0, 5, &r.logprobs);
  ParseOpenAiSampling(f, /*min_max_tokens=*/0, &r.sampling);
  std::optional<int> n;
  f.Int("n", 1, 128, &n);
  if (n) r.n = *n;
  std::optional<int> best_of;
  f.Int("best_of", 1, 128, &best_of);
  if (f.ok() && best_of && *best_of != r.n) {
    f.Fail(InvalidRequest("'best_of' other than 'n' is not supported", "best_of"));
  }
  f.Bool("stream", &r.stream);
  ParseStreamOptions(f, &r.include_usage);
  ParseResponseFormat(f, &r.response_format);
  if (!f.ok()) return f.error();
  return r;
}

Expected<EmbeddingRequest> ParseOpenAiEmbeddingRequest(const json& body) {
  if (!body.is_object()) return InvalidRequest("the request body must be a JSON object");
  EmbeddingRequest r;
  Fields f(body);
  f.String("model", &r.model);
  ParseTextOrTokens(f, "input", /*allow_empty_list=*/false, /*allow_empty_items=*/false, &r.inputs);
  std::string format = "float";
  f.String("encoding_format", &format);
  if (f.ok() && format == "base64") {
    r.encoding_format = EncodingFormat::kBase64;
  } else if (f.ok() && format != "float") {
    f.Fail(InvalidRequest("'encoding_format' must be \"float\" or \"base64\", not '" + format + "'",
                          "encoding_format"));
  }
  f.Int("dimensions", 1, 1 << 20, &r.dimensions);
  if (!f.ok()) return f.error();
  return r;
}

}  // namespace gemma::protocol
