// Forced tool calls: the JSON convention of Gemma 2/3 prompts, FunctionGemma's
// and Gemma 4's native call syntaxes with their special tokens matched as token
// ids. Hand-written accepted and rejected calls, then random walks whose
// calls are parsed back (by a parser written here from the spec) and whose
// arguments must validate against the tool's schema.
#include <gtest/gtest.h>

#include <random>

#include "constrain_test_util.h"
#include "constrain_validator.h"
#include "server/constrain/tool_calls.h"

namespace gemma::constrain {
namespace {

using J = nlohmann::ordered_json;
using test_util::MakeVocab;
using test_util::TestVocab;

const std::vector<std::string> kControls = {
    "<start_function_call>", "<end_function_call>", "<escape>", "<start_function_response>",
    "<|tool_call>",          "<tool_call|>",        "<|\"|>",   "<|tool_response>"};

const TestVocab& Vocab() {
  static const TestVocab v =
      MakeVocab({"call", ":", "{", "}", "get_weather", "city", "Paris", "{\"", "\":", "name", "<escape>"},
                kControls);
  return v;
}
int32_t Control(const std::string& name) { return Vocab().index->FindControlToken(name); }

std::vector<ToolSpec> Tools() {
  return {{"get_weather", J::parse(R"({"type":"object","properties":{
              "city":{"type":"string","minLength":1,"maxLength":8},
              "unit":{"enum":["c","f"]}},"required":["city"]})")},
          {"add", J::parse(R"({"type":"object","properties":{
              "a":{"type":"integer","minimum":0,"maximum":99},"b":{"type":"integer","minimum":0,"maximum":99},
              "flags":{"type":"array","items":{"type":"boolean"},"maxItems":2}},"required":["a","b"]})")},
          {"ping", nullptr}};
}

std::shared_ptr<const CompiledGrammar> Compile(const ToolCallOptions& options) {
  const Constraint c = CompileToolCalls(Tools(), options, Vocab().index);
  EXPECT_TRUE(c.ok()) << c.error;
  return c.grammar;
}

// A call as pieces: text, or a control token by name.
struct Piece {
  std::string text;
  bool control = false;
};
Piece T(std::string text) { return {std::move(text), false}; }
Piece C(std::string name) { return {std::move(name), true}; }

bool AcceptsPieces(const std::shared_ptr<const CompiledGrammar>& g, const std::vector<Piece>& pieces,
                   bool must_be_complete = true) {
  Matcher m(g);
  for (const Piece& p : pieces) {
    if (p.control) {
      if (!m.Accept(Control(p.text))) return false;
    } else if (!test_util::AcceptBytes(m, Vocab(), p.text)) {
      return false;
    }
  }
  return !must_be_complete || m.CanEnd();
}

TEST(ConstrainTools, JsonCalls) {
  const auto g = Compile({});
  auto ok = [&](const std::string& s) { return test_util::Matches(g, Vocab(), s); };
  EXPECT_TRUE(ok(R"({"name": "get_weather", "parameters": {"city": "Paris"}})"));
  EXPECT_TRUE(ok(R"({"name":"get_weather","parameters":{"city":"Oslo","unit":"c"}})"));
  EXPECT_TRUE(ok(R"({"name":"add","parameters":{"a":1,"b":2}})"));
  EXPECT_TRUE(ok(R"({"name":"ping","parameters":{}})"));
  EXPECT_FALSE(ok(R"({"name":"nope","parameters":{}})"));
  EXPECT_FALSE(ok(R"({"name":"add","parameters":{"city":"Paris"}})"));  // another tool's arguments
  EXPECT_FALSE(ok(R"({"name":"add","parameters":{"a":1}})"));           // missing required
  EXPECT_FALSE(ok(R"({"name":"add","parameters":{"a":100,"b":2}})"));   // out of range
  EXPECT_FALSE(ok(R"({"parameters":{},"name":"ping"})"));
  EXPECT_FALSE(ok(R"([{"name":"ping","parameters":{}}])"));  // one call, not a list

  ToolCallOptions parallel;
  parallel.parallel = true;
  const auto p = Compile(parallel);
  EXPECT_TRUE(test_util::Matches(p, Vocab(), R"([{"name":"ping","parameters":{}}])"));
  EXPECT_TRUE(test_util::Matches(
      p, Vocab(), R"([{"name":"add","parameters":{"a":1,"b":2}}, {"name":"get_weather","parameters":{"city":"x"}}])"));
  EXPECT_FALSE(test_util::Matches(p, Vocab(), "[]"));

  ToolCallOptions named;
  named.only_tool = "add";
  named.arguments_key = "arguments";
  const auto n = Compile(named);
  EXPECT_TRUE(test_util::Matches(n, Vocab(), R"({"name":"add","arguments":{"a":0,"b":0}})"));
  EXPECT_FALSE(test_util::Matches(n, Vocab(), R"({"name":"ping","arguments":{}})"));
  EXPECT_FALSE(test_util::Matches(n, Vocab(), R"({"name":"add","parameters":{"a":0,"b":0}})"));
}

TEST(ConstrainTools, FunctionGemmaCalls) {
  ToolCallOptions o;
  o.syntax = ToolCallSyntax::kFunctionGemma;
  const auto g = Compile(o);
  EXPECT_TRUE(AcceptsPieces(g, {C("<start_function_call>"), T("call:get_weather{city:"), C("<escape>"),
                                T("Paris"), C("<escape>"), T("}"), C("<end_function_call>")}));
  EXPECT_TRUE(AcceptsPieces(g, {C("<start_function_call>"), T("call:get_weather{city:"), C("<escape>"),
                                T("a\"b\n"), C("<escape>"), T(",unit:"), C("<escape>"), T("f"),
                                C("<escape>"), T("}"), C("<end_function_call>")}));
  EXPECT_TRUE(AcceptsPieces(g, {C("<start_function_call>"), T("call:add{a:1,b:22,flags:[true,false]}"),
                                C("<end_function_call>")}));
  EXPECT_TRUE(AcceptsPieces(g, {C("<start_function_call>"), T("call:ping{}"), C("<end_function_call>")}));
  // The delimiter written as text is not the delimiter token.
  EXPECT_FALSE(AcceptsPieces(g, {C("<start_function_call>"), T("call:get_weather{city:<escape>")}, false));
  EXPECT_FALSE(AcceptsPieces(g, {T("call:ping{}")}, false));
  EXPECT_FALSE(AcceptsPieces(g, {C("<start_function_call>"), T("call:add{b:1,a:2}"), C("<end_function_call>")}));
  EXPECT_FALSE(AcceptsPieces(g, {C("<start_function_call>"), T("call:add{a:1, b:2}"), C("<end_function_call>")}));
  // After the call: the model stops, with <start_function_response> as its own end token.
  Matcher m(g);
  for (const Piece& p : {C("<start_function_call>"), T("call:ping{}"), C("<end_function_call>")}) {
    ASSERT_TRUE(p.control ? m.Accept(Control(p.text)) : test_util::AcceptBytes(m, Vocab(), p.text));
  }
  EXPECT_TRUE(m.MustEnd());
  EXPECT_TRUE(m.Allows(Control("<start_function_response>")));
  EXPECT_TRUE(m.Allows(Vocab().eos));
  EXPECT_FALSE(m.Allows(Control("<start_function_call>")));  // one call unless parallel

  o.parallel = true;
  const auto p = Compile(o);
  EXPECT_TRUE(AcceptsPieces(p, {C("<start_function_call>"), T("call:ping{}"), C("<end_function_call>"),
                                C("<start_function_call>"), T("call:add{a:1,b:2}"), C("<end_function_call>")}));
}

TEST(ConstrainTools, Gemma4Calls) {
  ToolCallOptions o;
  o.syntax = ToolCallSyntax::kGemma4;
  o.parallel = true;
  const auto g = Compile(o);
  EXPECT_TRUE(AcceptsPieces(g, {C("<|tool_call>"), T("call:get_weather{city:"), C("<|\"|>"), T("Tokyo"),
                                C("<|\"|>"), T("}"), C("<tool_call|>")}));
  EXPECT_TRUE(AcceptsPieces(g, {C("<|tool_call>"), T("call:ping{}"), C("<tool_call|>"), C("<|tool_call>"),
                                T("call:ping{}"), C("<tool_call|>")}));
  EXPECT_FALSE(AcceptsPieces(g, {C("<|tool_call>"), T("call:get_weather{city:"), C("<escape>")}, false));
  EXPECT_FALSE(AcceptsPieces(g, {C("<start_function_call>")}, false));
  Matcher m(g);
  for (const Piece& p : {C("<|tool_call>"), T("call:ping{}"), C("<tool_call|>")}) {
    ASSERT_TRUE(p.control ? m.Accept(Control(p.text)) : test_util::AcceptBytes(m, Vocab(), p.text));
  }
  EXPECT_TRUE(m.CanEnd());
  EXPECT_FALSE(m.MustEnd());  // parallel: another call may follow
  EXPECT_TRUE(m.Allows(Control("<|tool_response>")));
  EXPECT_TRUE(m.Allows(Control("<|tool_call>")));
}

TEST(ConstrainTools, Errors) {
  const TestVocab plain = MakeVocab({});
  ToolCallOptions o;
  o.syntax = ToolCallSyntax::kFunctionGemma;
  Constraint c = CompileToolCalls(Tools(), o, plain.index);
  EXPECT_NE(c.error.find("no control token <escape>"), std::string::npos) << c.error;
  o = {};
  o.only_tool = "missing";
  c = CompileToolCalls(Tools(), o, Vocab().index);
  EXPECT_NE(c.error.find("\"missing\", which is not among the tools"), std::string::npos) << c.error;
  c = CompileToolCalls({}, {}, Vocab().index);
  EXPECT_NE(c.error.find("no tools"), std::string::npos) << c.error;
  c = CompileToolCalls({{"a", nullptr}, {"a", nullptr}}, {}, Vocab().index);
  EXPECT_NE(c.error.find("defined twice"), std::string::npos) << c.error;
  c = CompileToolCalls({{"a", J::parse(R"({"type":"object","properties":{"x":{"not":{}}}})")}}, {},
                       Vocab().index);
  EXPECT_NE(c.error.find("'not' is not supported"), std::string::npos) << c.error;
  std::string error;
  EXPECT_TRUE(ToolsFromOpenAI(J::parse(R"([{"type":"function"}])"), &error).empty());
  EXPECT_FALSE(error.empty());
  const auto tools = ToolsFromOpenAI(
      J::parse(R"([{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}])"), &error);
  ASSERT_EQ(tools.size(), 1u);
  EXPECT_EQ(tools[0].name, "f");
}

// Parses the native value syntax from a token stream: text bytes, with the
// string delimiter token marked.
class NativeParser {
 public:
  struct Item {
    bool delimiter;
    char byte;
  };
  explicit NativeParser(std::vector<Item> items) : items_(std::move(items)) {}

  bool Literal(const std::string& s) {
    for (const char c : s) {
      if (pos_ >= items_.size() || items_[pos_].delimiter || items_[pos_].byte != c) return false;
      ++pos_;
    }
    return true;
  }
  bool Peek(char c) const { return pos_ < items_.size() && !items_[pos_].delimiter && items_[pos_].byte == c; }
  bool AtEnd() const { return pos_ == items_.size(); }

  bool Value(nlohmann::json* out) {
    if (pos_ >= items_.size()) return false;
    if (items_[pos_].delimiter) {
      std::string s;
      for (++pos_; pos_ < items_.size() && !items_[pos_].delimiter; ++pos_) s += items_[pos_].byte;
      if (pos_ == items_.size()) return false;
      ++pos_;
      *out = s;
      return true;
    }
    if (Peek('{')) {
      ++pos_;
      *out = nlohmann::json::object();
      if (Peek('}')) return ++pos_, true;
      do {
        std::string key;
        while (pos_ < items_.size() && !items_[pos_].delimiter && items_[pos_].byte != ':') key += items_[pos_++].byte;
        if (!Literal(":")) return false;
        if (!Value(&(*out)[key])) return false;
      } while (Peek(',') && ++pos_);
      return Literal("}");
    }
    if (Peek('[')) {
      ++pos_;
      *out = nlohmann::json::array();
      if (Peek(']')) return ++pos_, true;
      do {
        nlohmann::json v;
        if (!Value(&v)) return false;
        out->push_back(v);
      } while (Peek(',') && ++pos_);
      return Literal("]");
    }
    std::string scalar;
    while (pos_ < items_.size() && !items_[pos_].delimiter && std::string(",}]").find(items_[pos_].byte) == std::string::npos) {
      scalar += items_[pos_++].byte;
    }
    try {
      *out = nlohmann::json::parse(scalar);  // numbers, true, false, null
    } catch (const nlohmann::json::exception&) {
      return false;
    }
    return !out->is_string() && !out->is_object() && !out->is_array();
  }

 private:
  std::vector<Item> items_;
  size_t pos_ = 0;
};

void WalkNativeCalls(ToolCallSyntax syntax, const char* open, const char* close, const char* delimiter) {
  ToolCallOptions o;
  o.syntax = syntax;
  o.parallel = true;
  o.max_calls = 3;
  const auto g = Compile(o);
  const VocabIndex& vocab = *Vocab().index;
  std::map<std::string, test_util::SchemaValidator> validators;
  for (const ToolSpec& t : Tools()) {
    validators.emplace(t.name, test_util::SchemaValidator(
                                   t.parameters.is_null() ? nlohmann::json::object()
                                                          : nlohmann::json::parse(t.parameters.dump())));
  }
  for (int seed = 0; seed < 40; ++seed) {
    std::mt19937 rng(seed);
    Matcher m(g);
    std::vector<int32_t> tokens;
    for (int step = 0; step < 3000 && !m.finished(); ++step) {
      const std::vector<int32_t> allowed = test_util::AllowedTokens(m);
      ASSERT_FALSE(allowed.empty()) << "dead end, seed " << seed;
      // Prefer ending and closing once the walk is long, so it finishes.
      int32_t token = allowed[rng() % allowed.size()];
      if (step > 40) {
        for (const int32_t id : allowed) {
          if (g->IsEndToken(id) || id == Control(delimiter) || vocab.bytes(id) == "}") token = id;
        }
      }
      ASSERT_TRUE(m.Accept(token));
      tokens.push_back(token);
    }
    ASSERT_TRUE(m.finished()) << "seed " << seed;
    // Split into calls and check each.
    std::vector<NativeParser::Item> items;
    int calls = 0;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
      const int32_t t = tokens[i];
      if (t == Control(open)) {
        items.clear();
      } else if (t == Control(close)) {
        NativeParser p(items);
        ASSERT_TRUE(p.Literal("call:"));
        std::string name;
        for (const auto& v : validators) {
          NativeParser probe = p;
          if (probe.Literal(v.first) && probe.Peek('{')) name = v.first;
        }
        ASSERT_FALSE(name.empty()) << "unknown tool, seed " << seed;
        ASSERT_TRUE(p.Literal(name));
        nlohmann::json args;
        ASSERT_TRUE(p.Value(&args)) << "seed " << seed;
        ASSERT_TRUE(p.AtEnd());
        std::string why;
        EXPECT_TRUE(validators.at(name).Validate(args, &why)) << why << " " << args.dump();
        ++calls;
      } else if (t == Control(delimiter)) {
        items.push_back({true, 0});
      } else {
        for (const char c : vocab.bytes(t)) items.push_back({false, c});
      }
    }
    EXPECT_GE(calls, 1);
    EXPECT_LE(calls, 3);
  }
}

TEST(ConstrainTools, RandomFunctionGemmaCallsParseAndValidate) {
  WalkNativeCalls(ToolCallSyntax::kFunctionGemma, "<start_function_call>", "<end_function_call>", "<escape>");
}

TEST(ConstrainTools, RandomGemma4CallsParseAndValidate) {
  WalkNativeCalls(ToolCallSyntax::kGemma4, "<|tool_call>", "<tool_call|>", "<|\"|>");
}

TEST(ConstrainTools, RandomJsonCallsOnGemma3Validate) {
  REQUIRE_GEMMA3_VOCAB();
  ToolCallOptions o;
  o.parallel = true;
  o.max_calls = 2;
  const Constraint c = CompileToolCalls(Tools(), o, test_util::Gemma3Vocab());
  ASSERT_TRUE(c.ok()) << c.error;
  std::map<std::string, test_util::SchemaValidator> validators;
  for (const ToolSpec& t : Tools()) {
    validators.emplace(t.name, test_util::SchemaValidator(
                                   t.parameters.is_null() ? nlohmann::json::object()
                                                          : nlohmann::json::parse(t.parameters.dump())));
  }
  const VocabIndex& vocab = *test_util::Gemma3Vocab();
  std::vector<uint64_t> mask((vocab.size() + 63) / 64);
  for (int seed = 0; seed < 10; ++seed) {
    std::mt19937 rng(seed);
    Matcher m(c.grammar);
    std::string text;
    for (int step = 0; step < 2000 && !m.finished(); ++step) {
      m.FillMask(mask);
      std::vector<int32_t> allowed;
      for (int32_t id = 0; id < vocab.size(); ++id) {
        if (test_util::MaskBit(mask, id)) allowed.push_back(id);
      }
      ASSERT_FALSE(allowed.empty());
      int32_t token = allowed[rng() % allowed.size()];
      if (step > 60 || rng() % 4 == 0) {
        for (const int32_t id : allowed) {
          if (c.grammar->IsEndToken(id) || vocab.bytes(id) == "\"" || vocab.bytes(id) == "}") token = id;
        }
      }
      ASSERT_TRUE(m.Accept(token));
      if (!c.grammar->IsEndToken(token)) text += vocab.bytes(token);
    }
    ASSERT_TRUE(m.finished()) << text;
    nlohmann::json calls;
    ASSERT_NO_THROW(calls = nlohmann::json::parse(text)) << text;
    ASSERT_TRUE(calls.is_array());
    for (const auto& call : calls) {
      const std::string name = call.at("name");
      std::string why;
      EXPECT_TRUE(validators.at(name).Validate(call.at("parameters"), &why)) << why << " " << text;
    }
  }
}

}  // namespace
}  // namespace gemma::constrain
