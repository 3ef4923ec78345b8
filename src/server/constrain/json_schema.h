// Structured output requests -> compiled grammars.
//
// Entry points for the server: OpenAI `response_format`, Ollama `format`, a
// bare JSON schema, and "any JSON" (JSON mode). Each returns a Constraint:
// an error message (the request gets HTTP 400: unsupported or invalid schema,
// named keyword and schema path), or a grammar to enforce (null grammar: no
// constraint, e.g. response_format {"type":"text"}).
//
// Parse request bodies with nlohmann::ordered_json (or pass the schema as
// text): properties are generated in the order the schema declares them,
// which a std::map-backed nlohmann::json has already lost.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "server/constrain/grammar.h"
#include "server/constrain/matcher.h"
#include "server/constrain/number_range.h"
#include "server/constrain/vocab_index.h"

namespace gemma::constrain {

// Whitespace between JSON tokens (after { [ , : and before } ]): nothing, one
// space, or one newline followed by up to max_indent spaces or tabs. Bounded,
// so a weak or random model cannot pad a valid JSON with whitespace forever;
// pretty-printed output up to max_indent columns of indentation still fits.
// allow = false: compact JSON only.
struct WhitespacePolicy {
  bool allow = true;
  int max_indent = 20;
};

struct SchemaOptions {
  WhitespacePolicy whitespace;
  // A schema without "additionalProperties" allows no properties beyond the
  // declared ones (OpenAI strict mode; outputs still validate either way).
  // false: any extra properties, as JSON Schema's default.
  bool forbid_unlisted_properties = true;
  NumberLimits numbers;
  int max_depth = 64;                       // nesting of subschemas
  size_t max_schema_bytes = 1 << 20;        // schema text
  BuildLimits build_limits;
};

struct Constraint {
  std::shared_ptr<const CompiledGrammar> grammar;  // null: no constraint
  std::string error;                               // non-empty: reject the request
  bool ok() const { return error.empty(); }
};

Constraint CompileJsonSchemaText(std::string_view schema_text, std::shared_ptr<const VocabIndex> vocab,
                             const SchemaOptions& options = {});
Constraint CompileJsonSchema(const nlohmann::ordered_json& schema,
                             std::shared_ptr<const VocabIndex> vocab,
                             const SchemaOptions& options = {});
// Any JSON object (OpenAI {"type":"json_object"}), or any JSON value.
Constraint CompileAnyJson(bool object_only, std::shared_ptr<const VocabIndex> vocab,
                          const SchemaOptions& options = {});

// OpenAI response_format: {"type":"text"} (no constraint), {"type":"json_object"},
// {"type":"json_schema","json_schema":{"name":..,"schema":{..},"strict":..}}.
Constraint FromOpenAIResponseFormat(const nlohmann::ordered_json& response_format,
                                    std::shared_ptr<const VocabIndex> vocab,
                                    const SchemaOptions& options = {});
// Ollama format: "json" (any JSON object, as Ollama's JSON mode), a schema
// object, or ""/null (no constraint).
Constraint FromOllamaFormat(const nlohmann::ordered_json& format,
                            std::shared_ptr<const VocabIndex> vocab,
                            const SchemaOptions& options = {});

}  // namespace gemma::constrain
