// Request parsing and validation for the OpenAI and Ollama routes: every
// field's type and range, the 400s naming the field, unknown fields ignored.
#include <gtest/gtest.h>

#include "server/protocol/request_fields.h"
#include "server/protocol/requests.h"

namespace gemma::protocol {
namespace {

using json = nlohmann::json;

json Body(std::string_view text) { return json::parse(text); }

template <typename T>
ApiError ErrorOf(const Expected<T>& result) {
  EXPECT_FALSE(result.ok());
  return result.ok() ? ApiError{} : result.error();
}

// The 400 a chat body gets, checked to name `param`.
void ExpectChatError(std::string_view body, std::string_view param,
                     std::string_view message_part = {}) {
  const ApiError e = ErrorOf(ParseOpenAiChatRequest(Body(body)));
  EXPECT_EQ(e.http_status, 400) << body;
  EXPECT_EQ(e.type, "invalid_request_error") << body;
  EXPECT_EQ(e.param, param) << body << " -> " << e.message;
  if (!message_part.empty()) {
    EXPECT_NE(e.message.find(message_part), std::string::npos) << e.message;
  }
}

TEST(ProtocolRequestTest, BodyMustBeAJsonObject) {
  EXPECT_NE(ErrorOf(ParseJsonBody("{\"model\": ")).message.find("not valid JSON"),
            std::string::npos);
  EXPECT_NE(ErrorOf(ParseJsonBody("[1, 2]")).message.find("JSON object"), std::string::npos);
  EXPECT_NE(
      ErrorOf(ParseJsonBody(std::string(100, '[') + std::string(100, ']'))).message.find("nested"),
      std::string::npos);
  // Brackets inside strings are not nesting.
  EXPECT_TRUE(ParseJsonBody("{\"a\": \"" + std::string(100, '[') + "\"}").ok());
  EXPECT_EQ(JsonNesting(R"({"a": [1, {"b": "]]]"}]})"), 3u);
}

TEST(ProtocolRequestTest, ErrorEnvelopes) {
  const ApiError e = InvalidRequest("'temperature' must be a number", "temperature");
  EXPECT_EQ(e.ToOpenAiJson(), Body(R"({"error": {"message": "'temperature' must be a number",
      "type": "invalid_request_error", "param": "temperature", "code": null}})"));
  EXPECT_EQ(e.ToOllamaJson(), Body(R"({"error": "'temperature' must be a number"})"));
  const ApiError ctx = ExceedContextSizeError(5000, 4096);
  EXPECT_EQ(ctx.http_status, 400);
  EXPECT_EQ(ctx.type, "exceed_context_size_error");
  EXPECT_NE(ctx.message.find("5000"), std::string::npos);
  EXPECT_NE(ctx.message.find("4096"), std::string::npos);
  EXPECT_EQ(AuthenticationError("bad key").http_status, 401);
  EXPECT_EQ(AuthenticationError("bad key").type, "authentication_error");
  EXPECT_EQ(NotFoundError("no such model").http_status, 404);
  EXPECT_EQ(ServerError("boom").ToOpenAiJson()["error"]["type"], "server_error");
}

TEST(ProtocolRequestTest, OpenAiChatWithEveryField) {
  const Expected<ChatRequest> parsed = ParseOpenAiChatRequest(Body(R"({
    "model": "gemma-3-1b", "unknown_field": {"x": 1}, "user": "u1",
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
      {"role": "assistant", "content": null, "reasoning_content": "think",
       "tool_calls": [{"id": "c1", "type": "function",
                       "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
      {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "sunny"}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": false,
    "temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "presence_penalty": -1,
    "frequency_penalty": 0.5, "repeat_penalty": 1.1, "seed": 42, "max_tokens": 100,
    "max_completion_tokens": 50, "stop": "END", "logprobs": true, "top_logprobs": 5, "n": 2,
    "stream": true, "stream_options": {"include_usage": true},
    "logit_bias": {"15": -100, "7": 2.5},
    "response_format": {"type": "json_schema", "json_schema": {"name": "w", "strict": true,
                        "schema": {"type": "object"}}},
    "chat_template_kwargs": {"enable_thinking": true}
  })"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const ChatRequest& r = parsed.value();
  EXPECT_EQ(r.model, "gemma-3-1b");
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0].role, Role::kSystem);
  EXPECT_EQ(r.messages[0].content, std::vector<std::string>{"Be brief."});
  EXPECT_TRUE(r.messages[1].content_is_parts);
  EXPECT_EQ(r.messages[1].content, (std::vector<std::string>{"Hi ", "there"}));
  EXPECT_TRUE(r.messages[2].content.empty());
  EXPECT_EQ(r.messages[2].reasoning, "think");
  ASSERT_EQ(r.messages[2].tool_calls.size(), 1u);
  EXPECT_EQ(r.messages[2].tool_calls[0].id, "c1");
  EXPECT_EQ(r.messages[2].tool_calls[0].name, "get_weather");
  EXPECT_EQ(r.messages[2].tool_calls[0].arguments, "{\"city\":\"Oslo\"}");
  EXPECT_EQ(r.messages[3].role, Role::kTool);
  EXPECT_EQ(r.messages[3].tool_call_id, "c1");
  EXPECT_EQ(r.messages[3].name, "get_weather");
  ASSERT_EQ(r.tools.size(), 1u);
  EXPECT_EQ(r.tools[0].name, "get_weather");
  EXPECT_EQ(r.tools[0].description, "Weather");
  EXPECT_EQ(r.tools[0].parameters["properties"]["city"]["type"], "string");
  EXPECT_EQ(r.tool_choice, ToolChoice::kFunction);
  EXPECT_EQ(r.tool_choice_name, "get_weather");
  EXPECT_FALSE(r.parallel_tool_calls);
  EXPECT_EQ(r.sampling.temperature, 0.7);
  EXPECT_EQ(r.sampling.top_p, 0.9);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_EQ(r.sampling.min_p, 0.05);
  EXPECT_EQ(r.sampling.presence_penalty, -1);
  EXPECT_EQ(r.sampling.frequency_penalty, 0.5);
  EXPECT_EQ(r.sampling.repeat_penalty, 1.1);
  EXPECT_EQ(r.sampling.seed, 42u);
  EXPECT_EQ(r.sampling.max_tokens, 50);  // max_completion_tokens wins
  EXPECT_EQ(r.sampling.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(r.sampling.logit_bias,
            (std::vector<std::pair<int32_t, float>>{{15, -100.0f}, {7, 2.5f}}));
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 5);
  EXPECT_EQ(r.n, 2);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.response_format.type, ResponseFormatType::kJsonSchema);
  EXPECT_EQ(r.response_format.schema, Body(R"({"type": "object"})"));
  EXPECT_EQ(r.response_format.name, "w");
  EXPECT_TRUE(r.response_format.strict);
  EXPECT_EQ(r.enable_thinking, true);
}

TEST(ProtocolRequestTest, OpenAiChatDefaults) {
  const Expected<ChatRequest> parsed =
      ParseOpenAiChatRequest(Body(R"({"messages": [{"role": "user", "content": "x"}],
                                      "temperature": null, "stop": null})"));
  ASSERT_TRUE(parsed.ok());
  const ChatRequest& r = parsed.value();
  EXPECT_EQ(r.model, "");
  EXPECT_FALSE(r.stream);
  EXPECT_EQ(r.n, 1);
  EXPECT_EQ(r.tool_choice, ToolChoice::kAuto);
  EXPECT_TRUE(r.parallel_tool_calls);
  EXPECT_FALSE(r.sampling.temperature.has_value());
  EXPECT_TRUE(r.sampling.stop.empty());
  EXPECT_FALSE(r.enable_thinking.has_value());
  EXPECT_EQ(r.response_format.type, ResponseFormatType::kText);
}

TEST(ProtocolRequestTest, InvalidMessagesNameTheField) {
  ExpectChatError(R"({"model": "m"})", "messages", "required");
  ExpectChatError(R"({"messages": null})", "messages", "required");
  ExpectChatError(R"({"messages": "hi"})", "messages", "array");
  ExpectChatError(R"({"messages": []})", "messages", "at least one");
  ExpectChatError(R"({"messages": [42]})", "messages[0]", "object");
  ExpectChatError(R"({"messages": [{"content": "x"}]})", "messages[0].role", "required");
  ExpectChatError(R"({"messages": [{"role": "wizard", "content": "x"}]})", "messages[0].role",
                  "wizard");
  ExpectChatError(R"({"messages": [{"role": "user"}]})", "messages[0].content", "required");
  ExpectChatError(R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content");
  ExpectChatError(R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})",
                  "messages[0].content[0].text", "required");
  ExpectChatError(R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"},
      {"type": "image_url", "image_url": {"url": "x"}}]}]})",
                  "messages[0].content[1].type", "not supported");
  ExpectChatError(R"({"messages": [{"role": "assistant", "tool_calls": [{"function": {}}]}]})",
                  "messages[0].tool_calls[0].function.name", "required");
  ExpectChatError(R"({"messages": [{"role": "assistant", "tool_calls": [{"function":
      {"name": "f", "arguments": 3}}]}]})",
                  "messages[0].tool_calls[0].function.arguments");
}

TEST(ProtocolRequestTest, SamplingFieldsAreTypeAndRangeChecked) {
  const std::string messages = R"("messages": [{"role": "user", "content": "x"}])";
  const auto body = [&](std::string_view field) {
    return "{" + messages + ", " + std::string(field) + "}";
  };
  ExpectChatError(body(R"("temperature": "hot")"), "temperature", "must be a number");
  ExpectChatError(body(R"("temperature": 2.5)"), "temperature", "between 0 and 2");
  ExpectChatError(body(R"("top_p": -0.1)"), "top_p");
  ExpectChatError(body(R"("top_k": 1.5)"), "top_k", "integer");
  ExpectChatError(body(R"("max_tokens": 0)"), "max_tokens", "between 1");
  ExpectChatError(body(R"("max_tokens": true)"), "max_tokens", "integer");
  ExpectChatError(body(R"("presence_penalty": 3)"), "presence_penalty");
  ExpectChatError(body(R"("seed": -5)"), "seed");
  ExpectChatError(body(R"("seed": "42")"), "seed");
  ExpectChatError(body(R"("stop": 5)"), "stop");
  ExpectChatError(body(R"("stop": ["a", 1])"), "stop[1]");
  ExpectChatError(body(R"("n": 0)"), "n");
  ExpectChatError(body(R"("logprobs": "yes")"), "logprobs", "boolean");
  ExpectChatError(body(R"("top_logprobs": 3)"), "top_logprobs", "logprobs");
  ExpectChatError(body(R"("logprobs": true, "top_logprobs": 21)"), "top_logprobs");
  ExpectChatError(body(R"("logit_bias": {"abc": 1})"), "logit_bias", "token ids");
  ExpectChatError(body(R"("logit_bias": {"5": 101})"), "logit_bias");
  ExpectChatError(body(R"("stream_options": true)"), "stream_options");
  ExpectChatError(body(R"("stream": 1)"), "stream");

  // Integral floats count as integers; -1 seeds and top_k mean "off".
  const Expected<ChatRequest> ok = ParseOpenAiChatRequest(
      Body(body(R"("max_tokens": 1e3, "seed": -1, "top_k": -1, "stop": ["a", "b"])")));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value().sampling.max_tokens, 1000);
  EXPECT_FALSE(ok.value().sampling.seed.has_value());
  EXPECT_EQ(ok.value().sampling.top_k, 0);
  EXPECT_EQ(ok.value().sampling.stop, (std::vector<std::string>{"a", "b"}));
  const Expected<ChatRequest> big_seed =
      ParseOpenAiChatRequest(Body(body(R"("seed": 18446744073709551615)")));
  ASSERT_TRUE(big_seed.ok());
  EXPECT_EQ(big_seed.value().sampling.seed, 18446744073709551615ull);
}

TEST(ProtocolRequestTest, ToolsAndToolChoice) {
  const std::string messages = R"("messages": [{"role": "user", "content": "x"}])";
  const std::string weather =
      R"({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}})";
  const auto body = [&](std::string_view fields) {
    return "{" + messages + ", " + std::string(fields) + "}";
  };
  ExpectChatError(body(R"("tools": {})"), "tools", "array");
  ExpectChatError(body(R"("tools": [{"type": "web_search"}])"), "tools[0].type", "not supported");
  ExpectChatError(body(R"("tools": [{"type": "function"}])"), "tools[0].function", "required");
  ExpectChatError(body(R"("tools": [{"function": {"name": "get weather"}}])"),
                  "tools[0].function.name");
  ExpectChatError(body(R"("tools": [{"function": {"name": "f", "parameters": "x"}}])"),
                  "tools[0].function.parameters");
  ExpectChatError(body("\"tools\": [" + weather + ", " + weather + "]"), "tools[1].function.name",
                  "two tools");
  ExpectChatError(body(R"("tool_choice": "required")"), "tool_choice", "requires 'tools'");
  ExpectChatError(body(R"("tool_choice": "sometimes")"), "tool_choice");
  ExpectChatError(body("\"tools\": [" + weather +
                       R"(], "tool_choice": {"type": "function", "function": {"name": "other"}})"),
                  "tool_choice", "not in 'tools'");

  for (const auto& [choice, expected] :
       std::vector<std::pair<std::string, ToolChoice>>{{"\"none\"", ToolChoice::kNone},
                                                       {"\"auto\"", ToolChoice::kAuto},
                                                       {"\"required\"", ToolChoice::kRequired}}) {
    const Expected<ChatRequest> r = ParseOpenAiChatRequest(
        Body(body("\"tools\": [" + weather + "], \"tool_choice\": " + choice)));
    ASSERT_TRUE(r.ok()) << choice;
    EXPECT_EQ(r.value().tool_choice, expected);
  }
}

TEST(ProtocolRequestTest, ResponseFormats) {
  const std::string messages = R"("messages": [{"role": "user", "content": "x"}])";
  const auto parse = [&](std::string_view format) {
    return ParseOpenAiChatRequest(
        Body("{" + messages + ", \"response_format\": " + std::string(format) + "}"));
  };
  EXPECT_EQ(parse(R"({"type": "json_object"})").value().response_format.type,
            ResponseFormatType::kJsonObject);
  EXPECT_EQ(parse(R"({"type": "text"})").value().response_format.type, ResponseFormatType::kText);
  // llama-server's json_object with a schema, and a schema at the top level.
  EXPECT_EQ(parse(R"({"type": "json_object", "schema": {"type": "array"}})")
                .value()
                .response_format.schema,
            Body(R"({"type": "array"})"));
  EXPECT_EQ(parse(R"({"type": "json_schema", "schema": {"type": "integer"}})")
                .value()
                .response_format.schema,
            Body(R"({"type": "integer"})"));
  EXPECT_EQ(ErrorOf(parse(R"({"type": "json_schema"})")).param, "response_format.json_schema");
  EXPECT_EQ(ErrorOf(parse(R"({"type": "json_schema", "json_schema": {"name": "x"}})")).param,
            "response_format.json_schema.schema");
  EXPECT_EQ(ErrorOf(parse(R"({"type": "json_schema", "json_schema": {"schema": "object"}})")).param,
            "response_format.json_schema.schema");
  EXPECT_EQ(ErrorOf(parse(R"({"type": "yaml"})")).param, "response_format.type");
  EXPECT_EQ(ErrorOf(parse(R"("json")")).param, "response_format");
}

TEST(ProtocolRequestTest, ThinkingSwitches) {
  const std::string messages = R"("messages": [{"role": "user", "content": "x"}])";
  const auto thinking = [&](std::string_view fields) {
    const Expected<ChatRequest> r =
        ParseOpenAiChatRequest(Body("{" + messages + ", " + std::string(fields) + "}"));
    EXPECT_TRUE(r.ok()) << fields;
    return r.ok() ? r.value().enable_thinking : std::nullopt;
  };
  EXPECT_EQ(thinking(R"("chat_template_kwargs": {"enable_thinking": false})"), false);
  EXPECT_EQ(thinking(R"("reasoning_effort": "none")"), false);
  EXPECT_EQ(thinking(R"("reasoning_effort": "high")"), true);
  EXPECT_EQ(thinking(R"("reasoning": {"effort": "low"})"), true);
  // chat_template_kwargs decides over reasoning_effort.
  EXPECT_EQ(
      thinking(R"("reasoning_effort": "high", "chat_template_kwargs": {"enable_thinking": false})"),
      false);
  ExpectChatError("{" + messages + R"(, "reasoning_effort": "extreme"})", "reasoning_effort");
  ExpectChatError("{" + messages + R"(, "chat_template_kwargs": {"enable_thinking": "no"}})",
                  "chat_template_kwargs.enable_thinking");
}

TEST(ProtocolRequestTest, OpenAiCompletions) {
  const auto prompts = [](std::string_view prompt) {
    const Expected<CompletionRequest> r =
        ParseOpenAiCompletionRequest(Body("{\"prompt\": " + std::string(prompt) + "}"));
    EXPECT_TRUE(r.ok()) << prompt;
    return r.ok() ? r.value().prompts : std::vector<TextOrTokens>{};
  };
  std::vector<TextOrTokens> p = prompts(R"("Once upon")");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].text, "Once upon");
  EXPECT_FALSE(p[0].is_tokens);
  p = prompts(R"(["a", "b"])");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[1].text, "b");
  p = prompts("[2, 651, 1]");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_TRUE(p[0].is_tokens);
  EXPECT_EQ(p[0].tokens, (std::vector<int32_t>{2, 651, 1}));
  p = prompts("[[2, 3], [4]]");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[1].tokens, std::vector<int32_t>{4});

  const Expected<CompletionRequest> full = ParseOpenAiCompletionRequest(Body(
      R"({"model": "m", "prompt": "x", "max_tokens": 0, "echo": true, "logprobs": 3,
          "suffix": "end", "n": 2, "best_of": 2, "stream": true,
          "stream_options": {"include_usage": true}})"));
  ASSERT_TRUE(full.ok()) << full.error().message;
  EXPECT_EQ(full.value().sampling.max_tokens, 0);
  EXPECT_TRUE(full.value().echo);
  EXPECT_EQ(full.value().logprobs, 3);
  EXPECT_EQ(full.value().suffix, "end");
  EXPECT_TRUE(full.value().include_usage);

  EXPECT_EQ(ErrorOf(ParseOpenAiCompletionRequest(Body(R"({})"))).param, "prompt");
  EXPECT_EQ(ErrorOf(ParseOpenAiCompletionRequest(Body(R"({"prompt": []})"))).param, "prompt");
  EXPECT_EQ(ErrorOf(ParseOpenAiCompletionRequest(Body(R"({"prompt": ["a", 1]})"))).param,
            "prompt[1]");
  EXPECT_EQ(ErrorOf(ParseOpenAiCompletionRequest(Body(R"({"prompt": [1, -2]})"))).param,
            "prompt[1]");
  EXPECT_EQ(ErrorOf(ParseOpenAiCompletionRequest(Body(R"({"prompt": "x", "logprobs": 6})"))).param,
            "logprobs");
  EXPECT_EQ(ErrorOf(ParseOpenAiCompletionRequest(Body(R"({"prompt": "x", "best_of": 3})"))).param,
            "best_of");
}

TEST(ProtocolRequestTest, OpenAiEmbeddings) {
  const Expected<EmbeddingRequest> r = ParseOpenAiEmbeddingRequest(
      Body(R"({"model": "e", "input": ["a", "b"], "encoding_format": "base64", "dimensions": 8})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().inputs.size(), 2u);
  EXPECT_EQ(r.value().encoding_format, EncodingFormat::kBase64);
  EXPECT_EQ(r.value().dimensions, 8);
  const Expected<EmbeddingRequest> tokens =
      ParseOpenAiEmbeddingRequest(Body(R"({"input": [[1, 2], [3]]})"));
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens.value().inputs[0].tokens, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(tokens.value().encoding_format, EncodingFormat::kFloat);

  for (const char* bad :
       {R"({"input": ""})", R"({"input": []})", R"({"input": ["a", ""]})", R"({"input": [[]]})",
        R"({})", R"({"input": {"a": 1}})", R"({"input": [["x"]]})"}) {
    const ApiError e = ErrorOf(ParseOpenAiEmbeddingRequest(Body(bad)));
    EXPECT_EQ(e.http_status, 400) << bad;
    EXPECT_EQ(e.param.rfind("input", 0), 0u) << bad << " -> " << e.param;
  }
  EXPECT_EQ(
      ErrorOf(ParseOpenAiEmbeddingRequest(Body(R"({"input": "a", "encoding_format": "hex"})")))
          .param,
      "encoding_format");
  EXPECT_EQ(ErrorOf(ParseOpenAiEmbeddingRequest(Body(R"({"input": "a", "dimensions": 0})"))).param,
            "dimensions");
}

TEST(ProtocolRequestTest, OllamaChat) {
  const Expected<ChatRequest> parsed = ParseOllamaChatRequest(Body(R"({
    "model": "gemma3",
    "messages": [
      {"role": "user", "content": "Weather?"},
      {"role": "assistant", "content": "", "thinking": "hmm",
       "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]},
      {"role": "tool", "tool_name": "get_weather", "content": "sunny"}
    ],
    "options": {"num_predict": 64, "temperature": 0.2, "top_k": 20, "num_ctx": 4096,
                "stop": ["\n\n"], "seed": 7, "repeat_last_n": 33},
    "format": "json", "keep_alive": "1h30m", "think": "high"
  })"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const ChatRequest& r = parsed.value();
  EXPECT_TRUE(r.stream);  // Ollama streams unless told otherwise
  EXPECT_EQ(r.messages[1].reasoning, "hmm");
  EXPECT_EQ(r.messages[1].tool_calls[0].arguments, "{\"city\":\"Oslo\"}");
  EXPECT_EQ(r.messages[2].name, "get_weather");
  EXPECT_EQ(r.sampling.max_tokens, 64);
  EXPECT_EQ(r.sampling.temperature, 0.2);
  EXPECT_EQ(r.sampling.top_k, 20);
  EXPECT_EQ(r.sampling.stop, std::vector<std::string>{"\n\n"});
  EXPECT_EQ(r.sampling.seed, 7u);
  EXPECT_EQ(r.sampling.repeat_last_n, 33);
  EXPECT_EQ(r.num_ctx, 4096);
  EXPECT_EQ(r.response_format.type, ResponseFormatType::kJsonObject);
  EXPECT_EQ(r.keep_alive_seconds, 5400);
  EXPECT_EQ(r.enable_thinking, true);

  const Expected<ChatRequest> load =
      ParseOllamaChatRequest(Body(R"({"model": "gemma3", "messages": [], "stream": false,
                                      "options": {"num_predict": -1}, "format": {"type": "object"},
                                      "keep_alive": 0, "think": false})"));
  ASSERT_TRUE(load.ok());
  EXPECT_TRUE(load.value().messages.empty());
  EXPECT_FALSE(load.value().stream);
  EXPECT_FALSE(load.value().sampling.max_tokens.has_value());
  EXPECT_EQ(load.value().response_format.type, ResponseFormatType::kJsonSchema);
  EXPECT_EQ(load.value().keep_alive_seconds, 0);
  EXPECT_EQ(load.value().enable_thinking, false);

  const auto error_param = [](std::string_view body) {
    return ErrorOf(ParseOllamaChatRequest(Body(body))).param;
  };
  EXPECT_EQ(error_param(R"({"messages": []})"), "model");
  EXPECT_EQ(error_param(R"({"model": ""})"), "model");
  EXPECT_EQ(error_param(R"({"model": "m", "options": []})"), "options");
  EXPECT_EQ(error_param(R"({"model": "m", "options": {"temperature": "x"}})"),
            "options.temperature");
  EXPECT_EQ(error_param(R"({"model": "m", "options": {"num_ctx": 0}})"), "options.num_ctx");
  EXPECT_EQ(error_param(R"({"model": "m", "format": "xml"})"), "format");
  EXPECT_EQ(error_param(R"({"model": "m", "keep_alive": "soon"})"), "keep_alive");
  EXPECT_EQ(error_param(R"({"model": "m", "think": "very"})"), "think");
  EXPECT_EQ(error_param(R"({"model": "m", "messages": [{"role": "user", "content": "x",
                                                         "images": ["aGk="]}]})"),
            "messages[0].images");
}

TEST(ProtocolRequestTest, OllamaGenerateEmbedShow) {
  const Expected<CompletionRequest> g = ParseOllamaGenerateRequest(
      Body(R"({"model": "m", "prompt": "Why?", "system": "Be brief.", "raw": true,
               "suffix": "x", "stream": false, "context": [1, 2, 3]})"));
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g.value().prompts.size(), 1u);
  EXPECT_EQ(g.value().prompts[0].text, "Why?");
  EXPECT_EQ(g.value().system, "Be brief.");
  EXPECT_TRUE(g.value().raw);
  EXPECT_FALSE(g.value().stream);
  EXPECT_EQ(
      ErrorOf(ParseOllamaGenerateRequest(Body(R"({"model": "m", "template": "{{ .Prompt }}"})")))
          .param,
      "template");

  const Expected<EmbeddingRequest> e =
      ParseOllamaEmbedRequest(Body(R"({"model": "m", "input": ["a", "b"], "truncate": false})"));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.value().inputs.size(), 2u);
  EXPECT_FALSE(e.value().truncate);
  const Expected<EmbeddingRequest> empty = ParseOllamaEmbedRequest(Body(R"({"model": "m"})"));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty.value().inputs.empty());
  EXPECT_EQ(ErrorOf(ParseOllamaEmbedRequest(Body(R"({"input": "a"})"))).param, "model");

  EXPECT_EQ(ParseOllamaShowRequest(Body(R"({"model": "gemma3"})")).value(), "gemma3");
  EXPECT_EQ(ParseOllamaShowRequest(Body(R"({"name": "gemma3"})")).value(), "gemma3");
  EXPECT_EQ(ErrorOf(ParseOllamaShowRequest(Body(R"({})"))).param, "model");
}

TEST(ProtocolRequestTest, KeepAliveDurations) {
  EXPECT_EQ(ParseKeepAlive(json("5m")), 300);
  EXPECT_EQ(ParseKeepAlive(json("1h30m")), 5400);
  EXPECT_EQ(ParseKeepAlive(json("90s")), 90);
  EXPECT_EQ(ParseKeepAlive(json("1.5h")), 5400);
  EXPECT_EQ(ParseKeepAlive(json("300ms")), 0.3);
  EXPECT_EQ(ParseKeepAlive(json("-1")), -1);
  EXPECT_EQ(ParseKeepAlive(json("-1m")), -60);
  EXPECT_EQ(ParseKeepAlive(json(120)), 120);
  EXPECT_FALSE(ParseKeepAlive(json("5 minutes")).has_value());
  EXPECT_FALSE(ParseKeepAlive(json("m")).has_value());
  EXPECT_FALSE(ParseKeepAlive(json("")).has_value());
  EXPECT_FALSE(ParseKeepAlive(json(true)).has_value());
}

}  // namespace
}  // namespace gemma::protocol
