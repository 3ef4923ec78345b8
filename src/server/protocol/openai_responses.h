// OpenAI response shapes: chat.completion, chat.completion.chunk (as SSE
// events), text_completion, embeddings, the model list, logprobs, usage.
// The builders return JSON; serialise with DumpJson (or SseEvent), which
// tolerates the invalid UTF-8 a token can end in.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/protocol/api_error.h"
#include "server/protocol/chat_types.h"
#include "server/protocol/requests.h"
#include "server/protocol/tool_call_parser.h"

namespace gemma::protocol {

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;                // prompt tokens served from the prompt cache
  std::optional<int> reasoning_tokens;  // completion tokens spent in the thought channel
};

// {"prompt_tokens","completion_tokens","total_tokens",
//  "prompt_tokens_details":{"cached_tokens"}[,"completion_tokens_details":{"reasoning_tokens"}]}
nlohmann::json UsageJson(const Usage& usage);

struct TopLogprob {
  std::string token;  // the token's bytes (may be part of a UTF-8 character)
  double logprob = 0;
};

struct TokenLogprob {
  std::string token;
  double logprob = 0;
  std::vector<TopLogprob> top;
};

// Chat logprobs: {"content":[{"token","logprob","bytes":[...],"top_logprobs":[...]}],
// "refusal":null}. "bytes" are the token's raw bytes, so that clients can
// rebuild characters split across tokens.
nlohmann::json ChatLogprobsJson(const std::vector<TokenLogprob>& tokens);

// What the id, timestamps and model of one response share.
struct ResponseMeta {
  std::string id;       // "chatcmpl-...", "cmpl-..."
  int64_t created = 0;  // Unix seconds
  std::string model;
  std::string system_fingerprint;  // omitted when empty
  bool include_usage = false;      // stream_options.include_usage: chunks carry "usage": null
};

// A new random response id with the given prefix ("chatcmpl-", "cmpl-").
std::string NewResponseId(std::string_view prefix);

// "tool_calls" when the output has calls, else "length" when the token limit
// cut it, else "stop".
const char* ChatFinishReason(bool hit_length, bool has_tool_calls);

struct ChatChoice {
  int index = 0;
  ParsedMessage message;
  std::string finish_reason = "stop";
  std::optional<std::vector<TokenLogprob>> logprobs;
};

// The non-streaming chat.completion. message.content is null when the
// message has only tool calls; reasoning goes to message.reasoning_content.
nlohmann::json BuildChatCompletion(const ResponseMeta& meta, const std::vector<ChatChoice>& choices,
                                   const Usage& usage);

// Streaming chunks (chat.completion.chunk). The first chunk of a choice
// carries delta {"role":"assistant","content":null}; later chunks carry no
// role.
nlohmann::json ChatRoleChunk(const ResponseMeta& meta, int index);
// The chunks for one parser delta: content and reasoning in one chunk, then
// one chunk per tool-call delta (the first with id, type, name and
// arguments "", the next with the arguments). Empty deltas give no chunks.
std::vector<nlohmann::json> ChatDeltaChunks(
    const ResponseMeta& meta, int index, const ParsedDelta& delta,
    const std::optional<std::vector<TokenLogprob>>& logprobs = std::nullopt);
// The last chunk of a choice: empty delta and the finish_reason.
nlohmann::json ChatFinishChunk(const ResponseMeta& meta, int index, std::string_view finish_reason);
// With include_usage, after all choices finished: "choices": [] and usage.
nlohmann::json ChatUsageChunk(const ResponseMeta& meta, const Usage& usage);

// Server-sent events: "data: {json}\n\n" and the final "data: [DONE]\n\n".
std::string SseEvent(const nlohmann::json& payload);
std::string SseDone();

// Legacy completion logprobs: {"tokens","token_logprobs","top_logprobs","text_offset"}.
nlohmann::json CompletionLogprobsJson(const std::vector<TokenLogprob>& tokens,
                                      size_t text_offset_start);

struct CompletionChoice {
  int index = 0;
  std::string text;
  std::string finish_reason = "stop";
  std::optional<nlohmann::json> logprobs;  // CompletionLogprobsJson
};

nlohmann::json BuildTextCompletion(const ResponseMeta& meta,
                                   const std::vector<CompletionChoice>& choices,
                                   const Usage& usage);
// A streamed text_completion chunk; finish_reason null until the last.
nlohmann::json TextCompletionChunk(const ResponseMeta& meta, int index, std::string_view text,
                                   std::optional<std::string_view> finish_reason,
                                   const std::optional<nlohmann::json>& logprobs = std::nullopt);

// Little-endian float32 bytes in standard base64 (OpenAI's
// encoding_format "base64").
std::string Base64Floats(const std::vector<float>& values);
std::string Base64Encode(std::string_view bytes);

// {"object":"list","data":[{"object":"embedding","index","embedding"}],"model","usage"}
nlohmann::json BuildEmbeddings(std::string_view model,
                               const std::vector<std::vector<float>>& vectors,
                               EncodingFormat format, int prompt_tokens);

struct ModelCard {
  std::string id;
  int64_t created = 0;
  std::string owned_by = "gemma";
};

nlohmann::json ModelJson(const ModelCard& model);                     // /v1/models/{id}
nlohmann::json BuildModelList(const std::vector<ModelCard>& models);  // /v1/models

}  // namespace gemma::protocol
