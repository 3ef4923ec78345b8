// One generation request of the HTTP API, from parsed body to response bytes:
// the prompt rendered in the model's chat format and tokenized, constraints
// compiled (structured output, forced tool calls), the engine requests (one
// per choice) submitted, and every token turned into the response's shape as
// it arrives: OpenAI chat or completion, streamed as SSE or whole; Ollama chat
// or generate, streamed as NDJSON or whole.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gemma/engine.h"
#include "gemma/gemma.h"
#include "gemma/serve.h"
#include "server/channel.h"
#include "server/constrain/json_schema.h"
#include "server/constrain/tool_calls.h"
#include "server/metrics.h"
#include "server/protocol/chat_format.h"
#include "server/protocol/requests.h"
#include "server/protocol/tool_call_parser.h"

namespace gemma::server {

using Clock = std::chrono::steady_clock;

// What every request shares, fixed once the model is loaded.
struct ServerContext {
  Model* model = nullptr;
  Engine* engine = nullptr;
  Metrics* metrics = nullptr;
  const ServeOptions* options = nullptr;
  std::string model_id;
  protocol::ChatFormat format = protocol::ChatFormat::kGemma3;
  std::shared_ptr<const constrain::VocabIndex> vocab;
  std::vector<int32_t> stop_ids;  // the chat format's end markers
};

enum class ApiStyle { kOpenAiChat, kOpenAiCompletion, kOllamaChat, kOllamaGenerate };

// A validated request, ready to run.
struct Prepared {
  ApiStyle style = ApiStyle::kOpenAiChat;
  std::vector<int32_t> prompt;
  std::string prompt_text;  // for `echo`
  Request request;          // shared by the choices (seed + index each)
  std::shared_ptr<const constrain::CompiledGrammar> grammar;
  std::vector<std::string> stop_strings;
  int n = 1;
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;
  bool echo = false;
  bool parse_tools = false;  // chat: split tool calls / reasoning out of the text
  protocol::ToolParserOptions tool_options;
  std::string model_name;  // echoed in the response
  Clock::time_point arrived;
};

// Builds the run from a parsed request. `raw` is the body parsed with key
// order kept (schemas generate properties in declared order).
protocol::Expected<Prepared> PrepareChat(const ServerContext& ctx, const protocol::ChatRequest& req,
                                         const nlohmann::ordered_json& raw, ApiStyle style);
protocol::Expected<Prepared> PrepareCompletion(const ServerContext& ctx,
                                               const protocol::CompletionRequest& req,
                                               const nlohmann::ordered_json& raw, ApiStyle style);

// The ApiError for an engine Status.
protocol::ApiError ErrorFromStatus(const Status& status, int context_length);

class Generation : public std::enable_shared_from_this<Generation> {
 public:
  // Submits the choices; on failure nothing runs and the error is returned.
  static protocol::Expected<std::shared_ptr<Generation>> Start(const ServerContext& ctx,
                                                               Prepared prepared);
  ~Generation();

  // Streaming: the response body's chunks, closed after the last.
  Channel& channel() { return channel_; }
  const char* content_type() const;
  // Ends every choice (the client left).
  void Cancel();
  // Waits until every choice ended; then the whole (non-streamed) body and
  // its HTTP status.
  void Wait();
  // Waits up to `timeout`; true once every choice ended.
  bool WaitFor(std::chrono::milliseconds timeout);
  std::string Body(int* http_status);

 private:
  struct Choice;
  Generation(const ServerContext& ctx, Prepared prepared);
  bool OnToken(int index, const TokenEvent& event);
  void OnDone(int index, const Completion& completion);
  void EmitDelta(int index, const protocol::ParsedDelta& delta);
  void EmitText(int index, const std::string& text);
  void FinishStream();

  const ServerContext& ctx_;
  Prepared p_;
  std::string id_;
  int64_t created_ = 0;
  std::string created_at_;  // Ollama's RFC 3339 time
  Channel channel_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  std::vector<std::unique_ptr<Choice>> choices_;
  std::vector<uint64_t> engine_ids_;
  int remaining_ = 0;
};

}  // namespace gemma::server
