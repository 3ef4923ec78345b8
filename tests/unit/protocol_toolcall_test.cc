// Tool-call parsing of model output: each format's call syntax, the repairs,
// content fallbacks, and that streaming in any split gives the same result
// as parsing the whole text. Expected arguments are written by hand.
#include <gtest/gtest.h>

#include <random>

#include "server/protocol/tool_call_parser.h"

namespace gemma::protocol {
namespace {

using json = nlohmann::json;

ToolParserOptions Tools(std::vector<std::string> names) {
  ToolParserOptions options;
  options.tool_names = std::move(names);
  options.make_id = [](size_t index) { return "call_" + std::to_string(index); };
  return options;
}

const ToolParserOptions kWeather = Tools({"get_weather", "get_time"});

struct Expected {
  std::string content;
  std::string reasoning;
  std::vector<std::pair<std::string, std::string>> calls;  // name, arguments JSON
};

void ExpectParsed(ChatFormat format, std::string_view text, const Expected& expected,
                  const ToolParserOptions& options = kWeather) {
  const ParsedMessage m = ParseToolCalls(format, text, options);
  EXPECT_EQ(m.content, expected.content) << text;
  EXPECT_EQ(m.reasoning, expected.reasoning) << text;
  ASSERT_EQ(m.tool_calls.size(), expected.calls.size()) << text;
  for (size_t i = 0; i < m.tool_calls.size(); ++i) {
    EXPECT_EQ(m.tool_calls[i].id, "call_" + std::to_string(i));
    EXPECT_EQ(m.tool_calls[i].name, expected.calls[i].first) << text;
    // Compare as JSON values (key order and spacing are not the point).
    EXPECT_EQ(json::parse(m.tool_calls[i].arguments), json::parse(expected.calls[i].second))
        << text;
  }
}

// --- Gemma 4 --------------------------------------------------------------------

constexpr ChatFormat kG4 = ChatFormat::kGemma4Large;

TEST(ProtocolToolCallTest, Gemma4PlainContentAndReasoning) {
  ExpectParsed(kG4, "Hello there.", {"Hello there.", "", {}});
  ExpectParsed(kG4, "<|channel>thought\nThe user greets me.\n<channel|>Hi!",
               {"Hi!", "The user greets me.", {}});
  // Reasoning cut off by the end of the output stays reasoning.
  ExpectParsed(kG4, "<|channel>thought\nStill thinking", {"", "Still thinking", {}});
  // The empty thought block of a thinking-off prompt.
  ExpectParsed(kG4, "<|channel>thought\n<channel|>Answer", {"Answer", "", {}});
}

TEST(ProtocolToolCallTest, Gemma4CallsWithEveryValueKind) {
  ExpectParsed(
      kG4,
      "<|tool_call>call:get_weather{city:<|\"|>Tokyo, JP<|\"|>,days:3,temp:-1.5e2,"
      "metric:true,note:null,hours:[6,12],opts:{unit:<|\"|>c<|\"|>,deep:{x:false}}}"
      "<tool_call|>",
      {"",
       "",
       {{"get_weather", R"({"city":"Tokyo, JP","days":3,"temp":-150.0,"metric":true,"note":null,)"
                        R"("hours":[6,12],"opts":{"unit":"c","deep":{"x":false}}})"}}});
}

TEST(ProtocolToolCallTest, Gemma4SeveralCallsReasoningAndStopMarkers) {
  ExpectParsed(kG4,
               "<|channel>thought\nNeed both.<|tool_call>call:get_weather{city:<|\"|>Oslo<|\"|>}"
               "<tool_call|><|tool_call>call:get_time{}<tool_call|><|tool_response>",
               {"", "Need both.", {{"get_weather", R"({"city":"Oslo"})"}, {"get_time", "{}"}}});
  // Text before a call stays content; whitespace before the call and after
  // the last one is dropped.
  ExpectParsed(kG4, "Let me check.\n<|tool_call>call:get_time{zone:CET}<tool_call|>\n",
               {"Let me check.", "", {{"get_time", R"({"zone":"CET"})"}}});
}

TEST(ProtocolToolCallTest, Gemma4Repairs) {
  // Missing closing brace before the closer.
  ExpectParsed(kG4, "<|tool_call>call:get_weather{city:<|\"|>Rome<|\"|><tool_call|>",
               {"", "", {{"get_weather", R"({"city":"Rome"})"}}});
  // Missing final string quote and brace at the end of the output.
  ExpectParsed(kG4, "<|tool_call>call:get_weather{city:<|\"|>Rome",
               {"", "", {{"get_weather", R"({"city":"Rome"})"}}});
  // Missing final string quote before the closing brace.
  ExpectParsed(kG4, "<|tool_call>call:get_weather{city:<|\"|>Rome}<tool_call|>",
               {"", "", {{"get_weather", R"({"city":"Rome"})"}}});
  // A stray closer after the call, and a call without its closer followed by
  // another call.
  ExpectParsed(
      kG4,
      "<|tool_call>call:get_time{}<tool_call|><tool_call|>"
      "<|tool_call>call:get_time{zone:<|\"|>UTC<|\"|>}<|tool_call>call:get_time{}",
      {"", "", {{"get_time", "{}"}, {"get_time", R"({"zone":"UTC"})"}, {"get_time", "{}"}}});
  // Single- and double-quoted values and quoted keys (JSON written by mistake).
  ExpectParsed(kG4, "<|tool_call>call:get_weather{\"city\": 'Nice', days: \"2\"}<tool_call|>",
               {"", "", {{"get_weather", R"({"city":"Nice","days":"2"})"}}});
}

TEST(ProtocolToolCallTest, Gemma4UnparseableOrUndeclaredCallsComeBackAsContent) {
  ExpectParsed(kG4, "<|tool_call>call:launch_rockets{n:3}<tool_call|>",
               {"<|tool_call>call:launch_rockets{n:3}<tool_call|>", "", {}});
  ExpectParsed(kG4, "Sure. <|tool_call>get weather for Paris<tool_call|>",
               {"Sure. <|tool_call>get weather for Paris<tool_call|>", "", {}});
  ExpectParsed(kG4, "<|tool_call>call:get_weather{city:<|\"|>A<|\"|> junk}",
               {"<|tool_call>call:get_weather{city:<|\"|>A<|\"|> junk}", "", {}});
  // No tools declared: nothing is a call.
  ExpectParsed(kG4, "<|tool_call>call:get_weather{}<tool_call|>",
               {"<|tool_call>call:get_weather{}<tool_call|>", "", {}}, Tools({}));
}

// --- FunctionGemma -------------------------------------------------------------

constexpr ChatFormat kFG = ChatFormat::kFunctionGemma;

TEST(ProtocolToolCallTest, FunctionGemmaCalls) {
  ExpectParsed(kFG,
               "<start_function_call>call:get_weather{city:<escape>Paris<escape>,days:2}"
               "<end_function_call><start_function_call>call:get_time{}<end_function_call>"
               "<start_function_response>",
               {"", "", {{"get_weather", R"({"city":"Paris","days":2})"}, {"get_time", "{}"}}});
  ExpectParsed(kFG, "<start_function_call>call:get_weather{city:<escape>Par",
               {"", "", {{"get_weather", R"({"city":"Par"})"}}});
  ExpectParsed(kFG, "The weather is sunny.", {"The weather is sunny.", "", {}});
  ExpectParsed(kFG, "<start_function_call>call:nope{}<end_function_call>",
               {"<start_function_call>call:nope{}<end_function_call>", "", {}});
}

// --- Gemma 3 prompt-based ---------------------------------------------------------

constexpr ChatFormat kG3 = ChatFormat::kGemma3;

TEST(ProtocolToolCallTest, Gemma3PythonStyleCallLists) {
  ExpectParsed(kG3, "[get_weather(city=\"Paris\", days=3)]",
               {"", "", {{"get_weather", R"({"city":"Paris","days":3})"}}});
  ExpectParsed(
      kG3, "[get_weather(city='Rome', metric=True, note=None), get_time()]",
      {"",
       "",
       {{"get_weather", R"({"city":"Rome","metric":true,"note":null})"}, {"get_time", "{}"}}});
  ExpectParsed(kG3, "Checking now: [ get_time(zone=\"CET\") ]\nDone.",
               {"Checking now:\nDone.", "", {{"get_time", R"({"zone":"CET"})"}}});
}

TEST(ProtocolToolCallTest, Gemma3JsonCalls) {
  ExpectParsed(kG3, R"({"name": "get_weather", "parameters": {"city": "Paris"}})",
               {"", "", {{"get_weather", R"({"city":"Paris"})"}}});
  ExpectParsed(kG3, R"({"name": "get_time", "arguments": "{\"zone\": \"UTC\"}"})",
               {"", "", {{"get_time", R"({"zone":"UTC"})"}}});
  ExpectParsed(kG3,
               R"([{"name": "get_time"}, {"type": "function", "function": {"name": "get_weather",)"
               R"( "arguments": {"city": "Oslo"}}}])",
               {"", "", {{"get_time", "{}"}, {"get_weather", R"({"city":"Oslo"})"}}});
}

TEST(ProtocolToolCallTest, Gemma3FencedCalls) {
  ExpectParsed(kG3, "I'll look it up.\n```tool_code\n[get_weather(city=\"Paris\")]\n```",
               {"I'll look it up.", "", {{"get_weather", R"({"city":"Paris"})"}}});
  ExpectParsed(kG3, "```tool_code\nprint(get_weather(city=\"Lyon\"))\nget_time()\n```",
               {"", "", {{"get_weather", R"({"city":"Lyon"})"}, {"get_time", "{}"}}});
  ExpectParsed(kG3, "```json\n{\"name\": \"get_time\", \"parameters\": {}}\n```",
               {"", "", {{"get_time", "{}"}}});
  // A fence of another language, or one that holds no call, is content.
  ExpectParsed(kG3, "```bash\nget_time()\n```", {"```bash\nget_time()\n```", "", {}});
  ExpectParsed(kG3, "```python\nprint(1)\n```", {"```python\nprint(1)\n```", "", {}});
}

TEST(ProtocolToolCallTest, Gemma3TextThatIsNotACallStaysContent) {
  const std::string prose =
      "See [1] and {\"name\": \"Bob\", \"age\": 3} or [get_weatherman] {x} `code` [get_time - "
      "no call]";
  ExpectParsed(kG3, prose, {prose, "", {}});
  ExpectParsed(kG3, "[get_weather(\"Paris\")]", {"[get_weather(\"Paris\")]", "", {}});
}

TEST(ProtocolToolCallTest, Gemma3RepairsAtTheEndOfTheOutput) {
  ExpectParsed(kG3, "[get_weather(city=\"Paris\")",
               {"", "", {{"get_weather", R"({"city":"Paris"})"}}});
  ExpectParsed(kG3, R"({"name": "get_weather", "parameters": {"city": "Paris")",
               {"", "", {{"get_weather", R"({"city":"Paris"})"}}});
  ExpectParsed(kG3, "```tool_code\n[get_time()]", {"", "", {{"get_time", "{}"}}});
  // A call cut inside a key is not repaired.
  ExpectParsed(kG3, "[get_weather(ci", {"[get_weather(ci", "", {}});
}

TEST(ProtocolToolCallTest, DeeplyNestedArgumentsAreNotACall) {
  // Arguments nested deeper than the parser follows (here inside a JSON
  // string, and directly) stay content instead of being serialised
  // recursively.
  const std::string deep_string =
      "{\"name\": \"get_time\", \"arguments\": \"{\\\"a\\\": " + std::string(100, '[') +
      std::string(100, ']') + "}\"}";
  ExpectParsed(kG3, deep_string, {deep_string, "", {}});
  const std::string deep_value =
      "[get_time(a=" + std::string(100, '[') + std::string(100, ']') + ")]";
  ExpectParsed(kG3, deep_value, {deep_value, "", {}});
  const std::string shallow = "{\"name\": \"get_time\", \"arguments\": \"{\\\"a\\\": [[1]]}\"}";
  ExpectParsed(kG3, shallow, {"", "", {{"get_time", R"({"a":[[1]]})"}}});
}

TEST(ProtocolToolCallTest, MaxCallsDiscardsTheRest) {
  ToolParserOptions one = kWeather;
  one.max_calls = 1;
  ExpectParsed(kG3, "[get_time(), get_weather(city=\"X\")]", {"", "", {{"get_time", "{}"}}}, one);
}

// --- Streaming -------------------------------------------------------------------

TEST(ProtocolToolCallTest, StreamingDeltasHaveOpenAiShape) {
  ToolCallParser parser(kG4, kWeather);
  ParsedDelta d = parser.Push("Sure.<|tool_c");
  EXPECT_EQ(d.content, "Sure.");
  EXPECT_TRUE(d.tool_calls.empty());
  d = parser.Push("all>call:get_weather{city:<|\"|>Paris<|\"|>}");
  EXPECT_TRUE(d.empty());  // the call is not complete yet
  d = parser.Push("<tool_call|>");
  ASSERT_EQ(d.tool_calls.size(), 2u);
  EXPECT_TRUE(d.tool_calls[0].first);
  EXPECT_EQ(d.tool_calls[0].index, 0);
  EXPECT_EQ(d.tool_calls[0].id, "call_0");
  EXPECT_EQ(d.tool_calls[0].name, "get_weather");
  EXPECT_EQ(d.tool_calls[0].arguments, "");
  EXPECT_FALSE(d.tool_calls[1].first);
  EXPECT_EQ(d.tool_calls[1].index, 0);
  EXPECT_EQ(d.tool_calls[1].id, "");
  EXPECT_EQ(json::parse(d.tool_calls[1].arguments), json::parse(R"({"city":"Paris"})"));
  EXPECT_TRUE(parser.Finish().empty());
}

TEST(ProtocolToolCallTest, TextIsHeldOnlyWhileItMayStartACall) {
  ToolCallParser parser(kG3, kWeather);
  EXPECT_EQ(parser.Push("Hello [get_").content, "Hello");
  // "[get_w" can still become [get_weather(...)]; "[get_x" cannot.
  EXPECT_EQ(parser.Push("w").content, "");
  EXPECT_EQ(parser.Push("x] done").content, " [get_wx] done");
  EXPECT_EQ(parser.Finish().content, "");
  EXPECT_EQ(parser.message().content, "Hello [get_wx] done");

  ToolCallParser g4(kG4, kWeather);
  EXPECT_EQ(g4.Push("a <").content, "a");
  EXPECT_EQ(g4.Push("b").content, " <b");
}

// Concatenates what streaming produced and checks it against the message.
ParsedMessage Reassemble(const std::vector<ParsedDelta>& deltas) {
  ParsedMessage m;
  for (const ParsedDelta& d : deltas) {
    m.content += d.content;
    m.reasoning += d.reasoning;
    for (const ToolCallDelta& t : d.tool_calls) {
      if (t.first) {
        EXPECT_EQ(static_cast<size_t>(t.index), m.tool_calls.size());
        EXPECT_EQ(t.arguments, "");
        m.tool_calls.push_back({t.id, t.name, ""});
      } else {
        EXPECT_TRUE(t.id.empty() && t.name.empty());
        EXPECT_LT(static_cast<size_t>(t.index), m.tool_calls.size());
        m.tool_calls[t.index].arguments += t.arguments;
      }
    }
  }
  return m;
}

TEST(ProtocolToolCallTest, StreamingAgreesWithTheWholeTextAtRandomSplitPoints) {
  const std::vector<std::pair<ChatFormat, std::string>> cases = {
      {kG4,
       "<|channel>thought\nPlan: call both.\n<channel|>Working on it. "
       "<|tool_call>call:get_weather{city:<|\"|>Paris, FR<|\"|>,days:3}<tool_call|>"
       "<|tool_call>call:get_time{zone:<|\"|>CET<|\"|>}<tool_call|> and <tool_call|>done"},
      {kG4, "<|tool_call>call:get_weather{city:<|\"|>Ro"},
      {kG4, "Text <|channel>thought\nA<|tool_call>call:nope{}<tool_call|> é ü <b>"},
      {kFG,
       "x <start_function_call>call:get_weather{city:<escape>Nice<escape>}<end_function_call>"
       "<start_function_call>call:bad{<end_function_call>"},
      {kG3,
       "Let me see [1]. ```tool_code\n[get_weather(city=\"Lyon\", days=2)]\n``` then "
       "{\"name\": \"get_time\", \"parameters\": {\"zone\": \"UTC\"}} {\"a\": [1]} [get_time("},
      {kG3, "```py\nprint(get_time())\n```\n[get_weather(city='x', n=1.5e3, ok=False)]"}};
  std::mt19937 rng(1234);
  for (const auto& [format, text] : cases) {
    const ParsedMessage whole = ParseToolCalls(format, text, kWeather);
    for (int trial = 0; trial < 300; ++trial) {
      ToolCallParser parser(format, kWeather);
      std::vector<ParsedDelta> deltas;
      size_t at = 0;
      while (at < text.size()) {
        const size_t n = std::uniform_int_distribution<size_t>(0, 7)(rng);
        deltas.push_back(parser.Push(std::string_view(text).substr(at, n)));
        at += std::min(n, text.size() - at);
      }
      deltas.push_back(parser.Finish());
      const ParsedMessage streamed = Reassemble(deltas);
      ASSERT_EQ(streamed.content, whole.content) << text;
      ASSERT_EQ(streamed.reasoning, whole.reasoning) << text;
      ASSERT_EQ(streamed.tool_calls.size(), whole.tool_calls.size()) << text;
      for (size_t i = 0; i < whole.tool_calls.size(); ++i) {
        ASSERT_EQ(streamed.tool_calls[i].name, whole.tool_calls[i].name);
        ASSERT_EQ(streamed.tool_calls[i].arguments, whole.tool_calls[i].arguments);
        ASSERT_TRUE(json::parse(streamed.tool_calls[i].arguments, nullptr, false).is_object());
      }
      ASSERT_EQ(parser.message().content, whole.content);
    }
  }
}

TEST(ProtocolToolCallTest, LongHeldCandidatesStreamLikeTheWholeText) {
  // Candidates held past the eager re-parse limit (256 bytes), with brackets
  // and apostrophes inside their strings: a call, and an object that is not
  // one.
  std::string filler;
  for (int i = 0; i < 40; ++i) filler += "don't } ] ) { [ (";  // 17 bytes each
  const std::string call_text =
      "Intro {\"name\": \"get_time\", \"parameters\": {\"text\": \"" + filler + "\"}} outro";
  const std::string not_call = "{\"name\": \"Alice\", \"bio\": \"" + filler + "\"} [get_time()]";
  ExpectParsed(kG3, call_text, {"Intro outro", "", {{"get_time", json{{"text", filler}}.dump()}}});
  ExpectParsed(kG3, not_call,
               {"{\"name\": \"Alice\", \"bio\": \"" + filler + "\"}", "", {{"get_time", "{}"}}});
  std::mt19937 rng(99);
  for (const std::string& text : {call_text, not_call}) {
    const ParsedMessage whole = ParseToolCalls(kG3, text, kWeather);
    for (int trial = 0; trial < 100; ++trial) {
      ToolCallParser parser(kG3, kWeather);
      std::vector<ParsedDelta> deltas;
      for (size_t at = 0; at < text.size();) {
        const size_t n = std::uniform_int_distribution<size_t>(1, 9)(rng);
        deltas.push_back(parser.Push(std::string_view(text).substr(at, n)));
        at += n;
      }
      // The call is out as soon as its text closes, before the end.
      ASSERT_EQ(parser.message().tool_calls.size(), 1u);
      deltas.push_back(parser.Finish());
      const ParsedMessage streamed = Reassemble(deltas);
      ASSERT_EQ(streamed.content, whole.content);
      ASSERT_EQ(streamed.tool_calls.size(), whole.tool_calls.size());
      for (size_t i = 0; i < whole.tool_calls.size(); ++i) {
        ASSERT_EQ(streamed.tool_calls[i].arguments, whole.tool_calls[i].arguments);
      }
    }
  }
}

TEST(ProtocolToolCallTest, WholeTextResultsOfTheSplitCases) {
  // The texts above, parsed whole, against hand-written expectations (so the
  // agreement test compares against known-good results).
  ExpectParsed(
      kG4,
      "<|channel>thought\nPlan: call both.\n<channel|>Working on it. "
      "<|tool_call>call:get_weather{city:<|\"|>Paris, FR<|\"|>,days:3}<tool_call|>"
      "<|tool_call>call:get_time{zone:<|\"|>CET<|\"|>}<tool_call|> and <tool_call|>done",
      {"Working on it. and done",
       "Plan: call both.",
       {{"get_weather", R"({"city":"Paris, FR","days":3})"}, {"get_time", R"({"zone":"CET"})"}}});
  ExpectParsed(kG4, "Text <|channel>thought\nA<|tool_call>call:nope{}<tool_call|> é ü <b>",
               {"Text <|tool_call>call:nope{}<tool_call|> é ü <b>", "A", {}});
  ExpectParsed(kFG,
               "x <start_function_call>call:get_weather{city:<escape>Nice<escape>}"
               "<end_function_call><start_function_call>call:bad{<end_function_call>",
               {"x<start_function_call>call:bad{<end_function_call>",
                "",
                {{"get_weather", R"({"city":"Nice"})"}}});
  ExpectParsed(kG3,
               "Let me see [1]. ```tool_code\n[get_weather(city=\"Lyon\", days=2)]\n``` then "
               "{\"name\": \"get_time\", \"parameters\": {\"zone\": \"UTC\"}} {\"a\": [1]} "
               "[get_time(",
               {"Let me see [1]. then {\"a\": [1]}",
                "",
                {{"get_weather", R"({"city":"Lyon","days":2})"},
                 {"get_time", R"({"zone":"UTC"})"},
                 {"get_time", "{}"}}});
}

}  // namespace
}  // namespace gemma::protocol
