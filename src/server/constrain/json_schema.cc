#include "server/constrain/json_schema.h"

#include "server/constrain/schema_compiler.h"

namespace gemma::constrain {
namespace {

Constraint Error(std::string message) { return Constraint{nullptr, std::move(message)}; }

// Runs `build` (which adds rules to the builder and returns the root) and
// binds the grammar to the vocabulary; every failure becomes a message.
template <typename Build>
Constraint CompileWith(const std::shared_ptr<const VocabIndex>& vocab, const SchemaOptions& options,
                       Build build) {
  if (!vocab) return Error("no vocabulary");
  try {
    GrammarBuilder b(options.build_limits);
    const GrammarBuilder::Rule root = build(b);
    return Constraint{CompiledGrammar::Create(b.Build(root), vocab), ""};
  } catch (const CompileError& e) {
    return Error(std::string("invalid or unsupported schema: ") + e.what());
  } catch (const nlohmann::json::exception& e) {
    return Error(std::string("invalid schema: ") + e.what());
  } catch (const std::length_error&) {
    return Error("schema too large");
  } catch (const std::bad_alloc&) {
    return Error("schema too large");
  }
}

}  // namespace

Constraint CompileJsonSchema(const nlohmann::ordered_json& schema,
                             std::shared_ptr<const VocabIndex> vocab, const SchemaOptions& options) {
  return CompileWith(vocab, options, [&](GrammarBuilder& b) {
    SchemaCompiler compiler(b, ValueSyntax{}, options);
    const int doc = compiler.AddDocument(&schema);
    const GrammarBuilder::Rule root = b.AddRule("#");
    b.SetBody(root, compiler.Value(schema, "#", doc));
    compiler.Finish();
    return root;
  });
}

Constraint CompileJsonSchemaText(std::string_view schema_text, std::shared_ptr<const VocabIndex> vocab,
                             const SchemaOptions& options) {
  if (schema_text.size() > options.max_schema_bytes) {
    return Error("schema too large: " + std::to_string(schema_text.size()) + " bytes (limit " +
                 std::to_string(options.max_schema_bytes) + ")");
  }
  nlohmann::ordered_json schema;
  try {
    // Depth-limited parse: nlohmann recurses per nesting level.
    int depth = 0, max_depth = 0;
    bool in_string = false, escaped = false;
    for (const char c : schema_text) {
      if (in_string) {
        if (escaped) escaped = false;
        else if (c == '\\') escaped = true;
        else if (c == '"') in_string = false;
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        max_depth = std::max(max_depth, ++depth);
      } else if (c == '}' || c == ']') {
        --depth;
      }
    }
    if (max_depth > 4 * options.max_depth + 8) {
      return Error("schema nested too deeply (" + std::to_string(max_depth) + " levels)");
    }
    schema = nlohmann::ordered_json::parse(schema_text);
  } catch (const nlohmann::json::exception& e) {
    return Error(std::string("schema is not valid JSON: ") + e.what());
  }
  return CompileJsonSchema(schema, std::move(vocab), options);
}

Constraint CompileAnyJson(bool object_only, std::shared_ptr<const VocabIndex> vocab,
                          const SchemaOptions& options) {
  return CompileWith(vocab, options, [&](GrammarBuilder& b) {
    SchemaCompiler compiler(b, ValueSyntax{}, options);
    const GrammarBuilder::Rule root = b.AddRule(object_only ? "json object" : "json value");
    b.SetBody(root, object_only ? compiler.AnyObject() : compiler.AnyValue());
    compiler.Finish();
    return root;
  });
}

Constraint FromOpenAIResponseFormat(const nlohmann::ordered_json& format,
                                    std::shared_ptr<const VocabIndex> vocab,
                                    const SchemaOptions& options) {
  if (format.is_null()) return {};
  if (!format.is_object() || !format.contains("type") || !format["type"].is_string()) {
    return Error("response_format must be an object with a string \"type\"");
  }
  const std::string type = format["type"].get<std::string>();
  if (type == "text") return {};
  if (type == "json_object") {
    // llama.cpp's extension: {"type":"json_object","schema":{...}}.
    if (format.contains("schema")) return CompileJsonSchema(format["schema"], vocab, options);
    return CompileAnyJson(/*object_only=*/true, vocab, options);
  }
  if (type == "json_schema") {
    if (!format.contains("json_schema") || !format["json_schema"].is_object()) {
      return Error("response_format.json_schema must be an object");
    }
    const auto& spec = format["json_schema"];
    if (!spec.contains("schema")) {
      // OpenAI treats a missing schema as any JSON object.
      return CompileAnyJson(/*object_only=*/true, vocab, options);
    }
    return CompileJsonSchema(spec["schema"], vocab, options);
  }
  return Error("response_format.type \"" + type +
               "\" is not supported (text, json_object, json_schema)");
}

Constraint FromOllamaFormat(const nlohmann::ordered_json& format,
                            std::shared_ptr<const VocabIndex> vocab, const SchemaOptions& options) {
  if (format.is_null() || (format.is_string() && format.get<std::string>().empty())) return {};
  if (format.is_string()) {
    if (format.get<std::string>() == "json") return CompileAnyJson(/*object_only=*/true, vocab, options);
    return Error("format \"" + format.get<std::string>() + "\" is not supported (\"json\" or a schema)");
  }
  if (format.is_object()) return CompileJsonSchema(format, vocab, options);
  return Error("format must be \"json\" or a JSON schema object");
}

}  // namespace gemma::constrain
