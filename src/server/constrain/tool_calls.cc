#include "server/constrain/tool_calls.h"

#include <set>

#include "server/constrain/schema_compiler.h"

namespace gemma::constrain {
namespace {

struct NativeTokens {
  const char* call_open;
  const char* call_close;
  const char* string_delimiter;
  const char* response;  // the model stops on it after its calls
};

constexpr NativeTokens kFunctionGemmaTokens = {"<start_function_call>", "<end_function_call>",
                                               "<escape>", "<start_function_response>"};
constexpr NativeTokens kGemma4Tokens = {"<|tool_call>", "<tool_call|>", "<|\"|>", "<|tool_response>"};

int32_t RequireControlToken(const VocabIndex& vocab, const char* name, const char* syntax) {
  const int32_t id = vocab.FindControlToken(name);
  if (id < 0) {
    throw CompileError(std::string("the vocabulary has no control token ") + name + " (needed for " +
                       syntax + " tool calls)");
  }
  return id;
}

const nlohmann::ordered_json& EmptyObjectSchema() {
  static const nlohmann::ordered_json kSchema = {{"type", "object"}, {"properties", nlohmann::ordered_json::object()}};
  return kSchema;
}

}  // namespace

Constraint CompileToolCalls(const std::vector<ToolSpec>& tools, const ToolCallOptions& options,
                            std::shared_ptr<const VocabIndex> vocab) {
  if (!vocab) return {nullptr, "no vocabulary"};
  try {
    std::vector<const ToolSpec*> chosen;
    std::set<std::string> names;
    for (const ToolSpec& t : tools) {
      if (t.name.empty()) throw CompileError("a tool has an empty name");
      if (!names.insert(t.name).second) throw CompileError("tool \"" + t.name + "\" is defined twice");
      if (options.only_tool.empty() || t.name == options.only_tool) chosen.push_back(&t);
    }
    if (chosen.empty()) {
      throw CompileError(options.only_tool.empty()
                             ? std::string("no tools to call")
                             : "tool_choice names \"" + options.only_tool + "\", which is not among the tools");
    }
    if (options.parallel && options.max_calls < 1) throw CompileError("max_calls must be at least 1");
    GrammarBuilder b(options.schema.build_limits);
    ValueSyntax syntax;
    const NativeTokens* native = nullptr;
    const char* syntax_name = "JSON";
    if (options.syntax == ToolCallSyntax::kFunctionGemma) {
      native = &kFunctionGemmaTokens;
      syntax_name = "FunctionGemma";
    } else if (options.syntax == ToolCallSyntax::kGemma4) {
      native = &kGemma4Tokens;
      syntax_name = "Gemma 4";
    }
    std::vector<int32_t> extra_end;
    int32_t open = -1, close = -1;
    if (native) {
      syntax.json = false;
      syntax.name = syntax_name;
      syntax.string_delimiter = RequireControlToken(*vocab, native->string_delimiter, syntax_name);
      open = RequireControlToken(*vocab, native->call_open, syntax_name);
      close = RequireControlToken(*vocab, native->call_close, syntax_name);
      const int32_t response = vocab->FindControlToken(native->response);
      if (response >= 0) extra_end.push_back(response);
    }
    SchemaCompiler compiler(b, syntax, options.schema);
    std::vector<GrammarBuilder::Expr> calls;
    for (const ToolSpec* t : chosen) {
      const nlohmann::ordered_json& params = t->parameters.is_null() ? EmptyObjectSchema() : t->parameters;
      const int doc = compiler.AddDocument(&params);
      const std::string path = "tool \"" + t->name + "\" parameters";
      const auto args = compiler.Value(params, path, doc);
      if (native) {
        calls.push_back(b.Seq({b.Token(open), b.Literal("call:" + t->name), args, b.Token(close)}));
      } else {
        calls.push_back(b.Seq({b.Byte('{'), compiler.Ws(), compiler.Key("name"),
                               compiler.StringLiteral(t->name), compiler.Ws(), b.Byte(','), compiler.Ws(),
                               compiler.Key(options.arguments_key), args, compiler.Ws(), b.Byte('}')}));
      }
    }
    const auto one_call = b.Alt(std::move(calls));
    const auto root = b.AddRule("tool calls");
    const int32_t max = options.parallel ? options.max_calls : 1;
    if (!options.parallel) {
      b.SetBody(root, one_call);
    } else if (native) {
      // Native calls follow each other directly.
      const auto call_rule = b.AddRule("tool call");
      b.SetBody(call_rule, one_call);
      b.SetBody(root, b.Seq({b.Call(call_rule), b.Repeat(b.Call(call_rule), 0, max == kUnbounded ? kUnbounded : max - 1)}));
    } else {
      const auto comma = b.Seq({compiler.Ws(), b.Byte(','), compiler.Ws()});
      b.SetCountedBody(root, {b.Seq({b.Byte('['), compiler.Ws()}), one_call, comma,
                              b.Seq({compiler.Ws(), b.Byte(']')}), b.Byte(']'), 1, max});
    }
    compiler.Finish();
    return Constraint{CompiledGrammar::Create(b.Build(root), vocab, extra_end), ""};
  } catch (const CompileError& e) {
    return {nullptr, std::string("invalid or unsupported tools: ") + e.what()};
  } catch (const nlohmann::json::exception& e) {
    return {nullptr, std::string("invalid tools: ") + e.what()};
  }
}

std::vector<ToolSpec> ToolsFromOpenAI(const nlohmann::ordered_json& tools, std::string* error) {
  std::vector<ToolSpec> out;
  if (!tools.is_array()) {
    *error = "tools must be an array";
    return {};
  }
  for (const auto& t : tools) {
    if (!t.is_object() || t.value("type", "") != "function" || !t.contains("function") ||
        !t["function"].is_object() || !t["function"].contains("name") || !t["function"]["name"].is_string()) {
      *error = "each tool must be {\"type\":\"function\",\"function\":{\"name\":...}}";
      return {};
    }
    const auto& f = t["function"];
    out.push_back({f["name"].get<std::string>(), f.contains("parameters") ? f["parameters"] : nullptr});
  }
  return out;
}

}  // namespace gemma::constrain
