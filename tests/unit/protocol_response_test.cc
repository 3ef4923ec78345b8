// Response and stream shapes: the fields OpenAI and Ollama clients rely on
// (server-anchors.md, "Tests worth porting"), with expected JSON written out.
#include <gtest/gtest.h>

#include "server/protocol/ollama_responses.h"
#include "server/protocol/openai_responses.h"

namespace gemma::protocol {
namespace {

using json = nlohmann::json;

ResponseMeta Meta(bool include_usage = false) {
  ResponseMeta meta;
  meta.id = "chatcmpl-abc";
  meta.created = 1700000000;
  meta.model = "gemma-3-1b";
  meta.include_usage = include_usage;
  return meta;
}

TEST(ProtocolResponseTest, ChatCompletionWithContentReasoningAndUsage) {
  ChatChoice choice;
  choice.message.content = "Hello!";
  choice.message.reasoning = "Greet back.";
  choice.finish_reason = "stop";
  Usage usage{12, 3, 8, 2};
  EXPECT_EQ(BuildChatCompletion(Meta(), {choice}, usage), json::parse(R"({
    "id": "chatcmpl-abc", "object": "chat.completion", "created": 1700000000,
    "model": "gemma-3-1b",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!",
                 "reasoning_content": "Greet back."}, "logprobs": null, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
              "prompt_tokens_details": {"cached_tokens": 8},
              "completion_tokens_details": {"reasoning_tokens": 2}}
  })"));
}

TEST(ProtocolResponseTest, ChatCompletionWithToolCallsHasNullContent) {
  ChatChoice choice;
  choice.message.tool_calls = {{"call_1", "get_weather", R"({"city":"Paris"})"}};
  choice.finish_reason = ChatFinishReason(false, true);
  const json out = BuildChatCompletion(Meta(), {choice}, Usage{5, 7, 0, std::nullopt});
  EXPECT_EQ(out["choices"][0], json::parse(R"({
    "index": 0, "logprobs": null, "finish_reason": "tool_calls",
    "message": {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_1", "type": "function",
       "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}
  })"));
  EXPECT_FALSE(out["usage"].contains("completion_tokens_details"));
  EXPECT_STREQ(ChatFinishReason(true, false), "length");
  EXPECT_STREQ(ChatFinishReason(false, false), "stop");
  EXPECT_STREQ(ChatFinishReason(true, true), "tool_calls");
}

TEST(ProtocolResponseTest, StreamChunksShareTheIdAndOnlyTheFirstHasTheRole) {
  const ResponseMeta meta = Meta();
  const json role = ChatRoleChunk(meta, 0);
  EXPECT_EQ(role, json::parse(R"({"id": "chatcmpl-abc", "object": "chat.completion.chunk",
      "created": 1700000000, "model": "gemma-3-1b", "choices": [{"index": 0,
      "delta": {"role": "assistant", "content": null}, "logprobs": null, "finish_reason": null}]})"));

  ParsedDelta delta;
  delta.content = "Hi";
  delta.reasoning = "hmm";
  delta.tool_calls = {{0, "call_0", "get_time", "", true}, {0, "", "", "{}", false}};
  const std::vector<json> chunks = ChatDeltaChunks(meta, 0, delta);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0]["choices"][0]["delta"],
            json::parse(R"({"content": "Hi", "reasoning_content": "hmm"})"));
  EXPECT_EQ(chunks[1]["choices"][0]["delta"], json::parse(R"({"tool_calls": [{"index": 0,
      "id": "call_0", "type": "function", "function": {"name": "get_time", "arguments": ""}}]})"));
  EXPECT_EQ(chunks[2]["choices"][0]["delta"],
            json::parse(R"({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]})"));
  for (const json& chunk : chunks) {
    EXPECT_EQ(chunk["id"], "chatcmpl-abc");
    EXPECT_FALSE(chunk["choices"][0]["delta"].contains("role"));
    EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
    EXPECT_FALSE(chunk.contains("usage"));
  }
  EXPECT_TRUE(ChatDeltaChunks(meta, 0, ParsedDelta{}).empty());

  const json finish = ChatFinishChunk(meta, 0, "length");
  EXPECT_EQ(finish["choices"][0]["delta"], json::object());
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "length");
}

TEST(ProtocolResponseTest, IncludeUsageAddsNullUsageAndAFinalUsageChunk) {
  const ResponseMeta meta = Meta(/*include_usage=*/true);
  EXPECT_TRUE(ChatRoleChunk(meta, 0)["usage"].is_null());
  EXPECT_TRUE(ChatRoleChunk(meta, 0).contains("usage"));
  const json usage = ChatUsageChunk(meta, Usage{4, 6, 0, std::nullopt});
  EXPECT_EQ(usage["choices"], json::array());
  EXPECT_EQ(usage["usage"], json::parse(R"({"prompt_tokens": 4, "completion_tokens": 6,
      "total_tokens": 10, "prompt_tokens_details": {"cached_tokens": 0}})"));
}

TEST(ProtocolResponseTest, SseFraming) {
  EXPECT_EQ(SseEvent(json{{"a", 1}}), "data: {\"a\":1}\n\n");
  EXPECT_EQ(SseDone(), "data: [DONE]\n\n");
  // A token cut inside a UTF-8 character must not break serialisation.
  EXPECT_EQ(SseEvent(json{{"t", std::string("\xC3")}}), "data: {\"t\":\"\xEF\xBF\xBD\"}\n\n");
}

TEST(ProtocolResponseTest, LogprobsCarryBytes) {
  const std::vector<TokenLogprob> tokens = {
      {"Hi", -0.25, {{"Hi", -0.25}, {"Hey", -1.5}}}, {"\xC3", -0.5, {}},  // first byte of "é"
  };
  const json lp = ChatLogprobsJson(tokens);
  EXPECT_EQ(lp["refusal"], nullptr);
  EXPECT_EQ(lp["content"][0], json::parse(R"({"token": "Hi", "logprob": -0.25, "bytes": [72, 105],
      "top_logprobs": [{"token": "Hi", "logprob": -0.25, "bytes": [72, 105]},
                       {"token": "Hey", "logprob": -1.5, "bytes": [72, 101, 121]}]})"));
  EXPECT_EQ(lp["content"][1]["bytes"], json::array({195}));
  EXPECT_NE(DumpJson(lp).find("\"bytes\":[195]"), std::string::npos);

  ChatChoice choice;
  choice.message.content = "Hi";
  choice.logprobs = tokens;
  EXPECT_EQ(BuildChatCompletion(Meta(), {choice}, {})["choices"][0]["logprobs"], lp);

  EXPECT_EQ(CompletionLogprobsJson(
                {{"Hi", -0.25, {{"Hi", -0.25}, {"Hey", -1.5}}}, {" there", -1, {}}}, 5),
            json::parse(R"({"tokens": ["Hi", " there"], "token_logprobs": [-0.25, -1],
                "top_logprobs": [{"Hi": -0.25, "Hey": -1.5}, {}], "text_offset": [5, 7]})"));
}

TEST(ProtocolResponseTest, TextCompletion) {
  ResponseMeta meta = Meta();
  meta.id = "cmpl-1";
  CompletionChoice choice;
  choice.text = " upon a time";
  choice.finish_reason = "length";
  EXPECT_EQ(BuildTextCompletion(meta, {choice}, Usage{3, 4, 0, std::nullopt}), json::parse(R"({
    "id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": "gemma-3-1b",
    "choices": [{"text": " upon a time", "index": 0, "logprobs": null, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
              "prompt_tokens_details": {"cached_tokens": 0}}})"));
  const json chunk = TextCompletionChunk(meta, 0, " upon", std::nullopt);
  EXPECT_EQ(chunk["choices"][0]["text"], " upon");
  EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(TextCompletionChunk(meta, 0, "", "stop")["choices"][0]["finish_reason"], "stop");
}

TEST(ProtocolResponseTest, EmbeddingsAsFloatsAndLittleEndianBase64) {
  // 1.0f = 0x3F800000 and -2.0f = 0xC0000000: bytes 00 00 80 3F 00 00 00 C0.
  EXPECT_EQ(Base64Floats({1.0f, -2.0f}), "AACAPwAAAMA=");
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");

  const json floats =
      BuildEmbeddings("e", {{0.5f, -1.0f}, {2.0f, 0.0f}}, EncodingFormat::kFloat, 9);
  EXPECT_EQ(floats, json::parse(R"({"object": "list", "model": "e",
      "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1.0]},
               {"object": "embedding", "index": 1, "embedding": [2.0, 0.0]}],
      "usage": {"prompt_tokens": 9, "total_tokens": 9}})"));
  const json base64 = BuildEmbeddings("e", {{1.0f, -2.0f}}, EncodingFormat::kBase64, 2);
  EXPECT_EQ(base64["data"][0]["embedding"], "AACAPwAAAMA=");
}

TEST(ProtocolResponseTest, ModelList) {
  EXPECT_EQ(BuildModelList({{"gemma-3-1b", 1700000000, "gemma"}}), json::parse(R"({
    "object": "list", "data": [{"id": "gemma-3-1b", "object": "model", "created": 1700000000,
                                "owned_by": "gemma"}]})"));
  EXPECT_EQ(NewResponseId("chatcmpl-").rfind("chatcmpl-", 0), 0u);
  EXPECT_NE(NewResponseId("chatcmpl-"), NewResponseId("chatcmpl-"));
}

TEST(ProtocolResponseTest, OllamaChatChunksAndFinal) {
  const std::string at = "2000-01-01T00:00:00.123456789Z";
  EXPECT_EQ(FormatRfc3339(std::chrono::system_clock::time_point(
                std::chrono::seconds(946684800) + std::chrono::nanoseconds(123456789))),
            at);
  ParsedDelta delta;
  delta.content = "The";
  EXPECT_EQ(OllamaChatChunk("gemma3", at, delta), json::parse(R"({"model": "gemma3",
      "created_at": "2000-01-01T00:00:00.123456789Z",
      "message": {"role": "assistant", "content": "The"}, "done": false})"));
  EXPECT_EQ(NdjsonLine(json{{"done", false}}), "{\"done\":false}\n");

  ParsedDelta call;
  call.reasoning = "Use the tool.";
  call.tool_calls = {{0, "call_0", "get_weather", "", true},
                     {0, "", "", R"({"city":"Oslo"})", false}};
  EXPECT_EQ(OllamaChatChunk("gemma3", at, call)["message"], json::parse(R"({
      "role": "assistant", "content": "", "thinking": "Use the tool.",
      "tool_calls": [{"id": "call_0", "function": {"index": 0, "name": "get_weather",
                      "arguments": {"city": "Oslo"}}}]})"));

  const OllamaStats stats{5000, 100, 26, 2000, 12, 2900};
  ParsedMessage message;
  message.content = "Hello";
  EXPECT_EQ(OllamaChatFinal("gemma3", at, "stop", stats, message), json::parse(R"({
    "model": "gemma3", "created_at": "2000-01-01T00:00:00.123456789Z",
    "message": {"role": "assistant", "content": "Hello"}, "done": true, "done_reason": "stop",
    "total_duration": 5000, "load_duration": 100, "prompt_eval_count": 26,
    "prompt_eval_duration": 2000, "eval_count": 12, "eval_duration": 2900})"));
}

TEST(ProtocolResponseTest, OllamaGenerateTagsShowVersionEmbed) {
  const std::string at = "2000-01-01T00:00:00.000000000Z";
  EXPECT_EQ(OllamaGenerateChunk("g", at, "Hi"),
            json::parse(R"({"model": "g", "created_at": "2000-01-01T00:00:00.000000000Z",
                            "response": "Hi", "done": false})"));
  const json final = OllamaGenerateFinal("g", at, "length", OllamaStats{1, 2, 3, 4, 5, 6});
  EXPECT_EQ(final["done"], true);
  EXPECT_EQ(final["done_reason"], "length");
  EXPECT_EQ(final["response"], "");
  EXPECT_EQ(final["eval_count"], 5);
  EXPECT_EQ(final["prompt_eval_count"], 3);

  OllamaModel model{"gemma3:latest", at, 1000, "sha256:abc", "gemma3", "1.0B", "Q4_0"};
  const json details = json::parse(R"({"parent_model": "", "format": "gguf", "family": "gemma3",
      "families": ["gemma3"], "parameter_size": "1.0B", "quantization_level": "Q4_0"})");
  EXPECT_EQ(OllamaTags({model}), json::parse(R"({"models": [{"name": "gemma3:latest",
      "model": "gemma3:latest", "modified_at": "2000-01-01T00:00:00.000000000Z", "size": 1000,
      "digest": "sha256:abc", "details": )" + details.dump() +
                                             "}]}"));
  const json show = OllamaShow(model, {{"general.architecture", "gemma3"}}, {"completion", "tools"},
                               "{{ .Prompt }}", "temperature 1");
  EXPECT_EQ(show["details"], details);
  EXPECT_EQ(show["capabilities"], json::parse(R"(["completion", "tools"])"));
  EXPECT_EQ(show["model_info"]["general.architecture"], "gemma3");
  EXPECT_EQ(show["template"], "{{ .Prompt }}");
  EXPECT_EQ(OllamaVersion("0.1.0"), json::parse(R"({"version": "0.1.0"})"));
  EXPECT_EQ(OllamaEmbed("e", {{0.5f}}, OllamaStats{10, 1, 4, 0, 0, 0}),
            json::parse(R"({"model": "e", "embeddings": [[0.5]], "total_duration": 10,
                            "load_duration": 1, "prompt_eval_count": 4})"));
}

}  // namespace
}  // namespace gemma::protocol
