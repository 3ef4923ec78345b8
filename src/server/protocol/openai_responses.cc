#include "server/protocol/openai_responses.h"

#include <cstring>
#include <random>

namespace gemma::protocol {

using json = nlohmann::json;

namespace {

json BytesJson(std::string_view token) {
  json bytes = json::array();
  for (const char c : token) bytes.push_back(static_cast<unsigned char>(c));
  return bytes;
}

json ChunkBase(const ResponseMeta& meta) {
  json chunk = {{"id", meta.id},
                {"object", "chat.completion.chunk"},
                {"created", meta.created},
                {"model", meta.model}};
  if (!meta.system_fingerprint.empty()) chunk["system_fingerprint"] = meta.system_fingerprint;
  if (meta.include_usage) chunk["usage"] = nullptr;
  return chunk;
}

json ChunkWith(const ResponseMeta& meta, int index, json delta, json finish_reason,
               json logprobs = nullptr) {
  json chunk = ChunkBase(meta);
  chunk["choices"] = json::array({{{"index", index},
                                   {"delta", std::move(delta)},
                                   {"logprobs", std::move(logprobs)},
                                   {"finish_reason", std::move(finish_reason)}}});
  return chunk;
}

json ToolCallJson(const ToolCall& call) {
  return {{"id", call.id},
          {"type", "function"},
          {"function", {{"name", call.name}, {"arguments", call.arguments}}}};
}

}  // namespace

json UsageJson(const Usage& usage) {
  json out = {{"prompt_tokens", usage.prompt_tokens},
              {"completion_tokens", usage.completion_tokens},
              {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
              {"prompt_tokens_details", {{"cached_tokens", usage.cached_tokens}}}};
  if (usage.reasoning_tokens) {
    out["completion_tokens_details"] = {{"reasoning_tokens", *usage.reasoning_tokens}};
  }
  return out;
}

json ChatLogprobsJson(const std::vector<TokenLogprob>& tokens) {
  json content = json::array();
  for (const TokenLogprob& t : tokens) {
    json top = json::array();
    for (const TopLogprob& alt : t.top) {
      top.push_back(
          {{"token", alt.token}, {"logprob", alt.logprob}, {"bytes", BytesJson(alt.token)}});
    }
    content.push_back({{"token", t.token},
                       {"logprob", t.logprob},
                       {"bytes", BytesJson(t.token)},
                       {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

std::string NewResponseId(std::string_view prefix) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string id(prefix);
  for (int i = 0; i < 29; ++i) id += kAlphabet[pick(rng)];
  return id;
}

const char* ChatFinishReason(bool hit_length, bool has_tool_calls) {
  if (has_tool_calls) return "tool_calls";
  return hit_length ? "length" : "stop";
}

json BuildChatCompletion(const ResponseMeta& meta, const std::vector<ChatChoice>& choices,
                         const Usage& usage) {
  json out = {{"id", meta.id},
              {"object", "chat.completion"},
              {"created", meta.created},
              {"model", meta.model}};
  if (!meta.system_fingerprint.empty()) out["system_fingerprint"] = meta.system_fingerprint;
  json list = json::array();
  for (const ChatChoice& choice : choices) {
    const ParsedMessage& m = choice.message;
    json message = {{"role", "assistant"}};
    message["content"] =
        m.content.empty() && !m.tool_calls.empty() ? json(nullptr) : json(m.content);
    if (!m.reasoning.empty()) message["reasoning_content"] = m.reasoning;
    if (!m.tool_calls.empty()) {
      json calls = json::array();
      for (const ToolCall& call : m.tool_calls) calls.push_back(ToolCallJson(call));
      message["tool_calls"] = std::move(calls);
    }
    list.push_back({{"index", choice.index},
                    {"message", std::move(message)},
                    {"logprobs", choice.logprobs ? ChatLogprobsJson(*choice.logprobs) : json()},
                    {"finish_reason", choice.finish_reason}});
  }
  out["choices"] = std::move(list);
  out["usage"] = UsageJson(usage);
  return out;
}

json ChatRoleChunk(const ResponseMeta& meta, int index) {
  return ChunkWith(meta, index, {{"role", "assistant"}, {"content", nullptr}}, nullptr);
}

std::vector<json> ChatDeltaChunks(const ResponseMeta& meta, int index, const ParsedDelta& delta,
                                  const std::optional<std::vector<TokenLogprob>>& logprobs) {
  std::vector<json> chunks;
  const json logprobs_json = logprobs ? ChatLogprobsJson(*logprobs) : json();
  bool logprobs_sent = false;
  if (!delta.content.empty() || !delta.reasoning.empty()) {
    json d = json::object();
    if (!delta.content.empty()) d["content"] = delta.content;
    if (!delta.reasoning.empty()) d["reasoning_content"] = delta.reasoning;
    chunks.push_back(ChunkWith(meta, index, std::move(d), nullptr, logprobs_json));
    logprobs_sent = true;
  }
  for (const ToolCallDelta& t : delta.tool_calls) {
    json call = {{"index", t.index}};
    if (t.first) {
      call["id"] = t.id;
      call["type"] = "function";
      call["function"] = {{"name", t.name}, {"arguments", ""}};
    } else {
      call["function"] = {{"arguments", t.arguments}};
    }
    chunks.push_back(ChunkWith(meta, index, {{"tool_calls", json::array({std::move(call)})}},
                               nullptr, logprobs_sent ? json() : logprobs_json));
    logprobs_sent = true;
  }
  return chunks;
}

json ChatFinishChunk(const ResponseMeta& meta, int index, std::string_view finish_reason) {
  return ChunkWith(meta, index, json::object(), std::string(finish_reason));
}

json ChatUsageChunk(const ResponseMeta& meta, const Usage& usage) {
  json chunk = ChunkBase(meta);
  chunk["choices"] = json::array();
  chunk["usage"] = UsageJson(usage);
  return chunk;
}

std::string SseEvent(const json& payload) { return "data: " + DumpJson(payload) + "\n\n"; }

std::string SseDone() { return "data: [DONE]\n\n"; }

json CompletionLogprobsJson(const std::vector<TokenLogprob>& tokens, size_t text_offset_start) {
  json out = {{"tokens", json::array()},
              {"token_logprobs", json::array()},
              {"top_logprobs", json::array()},
              {"text_offset", json::array()}};
  size_t offset = text_offset_start;
  for (const TokenLogprob& t : tokens) {
    out["tokens"].push_back(t.token);
    out["token_logprobs"].push_back(t.logprob);
    json top = json::object();
    for (const TopLogprob& alt : t.top) top[alt.token] = alt.logprob;
    out["top_logprobs"].push_back(std::move(top));
    out["text_offset"].push_back(offset);
    offset += t.token.size();
  }
  return out;
}

json BuildTextCompletion(const ResponseMeta& meta, const std::vector<CompletionChoice>& choices,
                         const Usage& usage) {
  json list = json::array();
  for (const CompletionChoice& c : choices) {
    list.push_back({{"text", c.text},
                    {"index", c.index},
                    {"logprobs", c.logprobs ? *c.logprobs : json()},
                    {"finish_reason", c.finish_reason}});
  }
  json out = {{"id", meta.id},       {"object", "text_completion"}, {"created", meta.created},
              {"model", meta.model}, {"choices", std::move(list)},  {"usage", UsageJson(usage)}};
  if (!meta.system_fingerprint.empty()) out["system_fingerprint"] = meta.system_fingerprint;
  return out;
}

json TextCompletionChunk(const ResponseMeta& meta, int index, std::string_view text,
                         std::optional<std::string_view> finish_reason,
                         const std::optional<json>& logprobs) {
  json chunk = {
      {"id", meta.id},
      {"object", "text_completion"},
      {"created", meta.created},
      {"model", meta.model},
      {"choices", json::array({{{"text", std::string(text)},
                                {"index", index},
                                {"logprobs", logprobs ? *logprobs : json()},
                                {"finish_reason",
                                 finish_reason ? json(std::string(*finish_reason)) : json()}}})}};
  if (meta.include_usage) chunk["usage"] = nullptr;
  return chunk;
}

std::string Base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t v =
        (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string Base64Floats(const std::vector<float>& values) {
  std::string bytes;
  bytes.reserve(values.size() * 4);
  for (const float value : values) {
    uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof(bits));
    for (int shift = 0; shift < 32; shift += 8) {  // little-endian on any host
      bytes.push_back(static_cast<char>((bits >> shift) & 0xFF));
    }
  }
  return Base64Encode(bytes);
}

json BuildEmbeddings(std::string_view model, const std::vector<std::vector<float>>& vectors,
                     EncodingFormat format, int prompt_tokens) {
  json data = json::array();
  for (size_t i = 0; i < vectors.size(); ++i) {
    json embedding =
        format == EncodingFormat::kBase64 ? json(Base64Floats(vectors[i])) : json(vectors[i]);
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", std::string(model)},
          {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
}

json ModelJson(const ModelCard& model) {
  return {{"id", model.id},
          {"object", "model"},
          {"created", model.created},
          {"owned_by", model.owned_by}};
}

json BuildModelList(const std::vector<ModelCard>& models) {
  json data = json::array();
  for (const ModelCard& m : models) data.push_back(ModelJson(m));
  return {{"object", "list"}, {"data", std::move(data)}};
}

}  // namespace gemma::protocol
