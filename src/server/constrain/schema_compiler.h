// JSON Schema -> grammar expressions (internal; used by json_schema.cc and
// tool_calls.cc). Values are written in a ValueSyntax: JSON, or the call
// syntax of FunctionGemma / Gemma 4, where strings sit between two copies of
// a delimiter token and object keys are bare.
//
// Supported keywords (draft 2020-12 and the OpenAI strict subset): type (a
// name or a list), nullable, enum, const, properties (in declared order),
// required, additionalProperties (false, true, schema), items, prefixItems,
// additionalItems / items-as-array (draft 7), minItems, maxItems, minLength,
// maxLength, pattern (regex.h subset), format (date, time, date-time, uuid,
// ipv4, email), minimum, maximum, exclusiveMinimum, exclusiveMaximum
// (numbers or draft-4 booleans), multipleOf 1 for integers, anyOf, oneOf
// (as anyOf: the output satisfies at least one branch), allOf (merged where
// the branches combine simply), $ref to "#..." JSON pointers ($defs,
// definitions, recursion), uniqueItems: false. Annotations are ignored.
// Everything else that constrains values is rejected naming the keyword.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/constrain/grammar.h"
#include "server/constrain/json_schema.h"

namespace gemma::constrain {

using Json = nlohmann::ordered_json;

struct ValueSyntax {
  bool json = true;               // false: delimited strings, bare keys, no whitespace
  int32_t string_delimiter = -1;  // the delimiter token when !json
  std::string name = "JSON";      // for messages
};

class SchemaCompiler {
 public:
  using Expr = GrammarBuilder::Expr;
  using Rule = GrammarBuilder::Rule;

  SchemaCompiler(GrammarBuilder& b, ValueSyntax syntax, const SchemaOptions& options);

  // Registers a schema document ($ref "#..." resolves inside it); returns its id.
  int AddDocument(const Json* document);
  // A value valid under `schema` (a node of document `doc`, at `path`).
  Expr Value(const Json& schema, const std::string& path, int doc);
  Expr AnyValue();
  Expr AnyObject();
  // Compiles the bodies of the rules created for $ref targets. Call once,
  // after the last Value().
  void Finish();

  // Pieces of the syntax, for tool-call grammars.
  Expr Ws();
  Expr Key(const std::string& key);        // "key" ws : ws   |   key:
  Expr StringLiteral(const std::string& s);

 private:
  Expr ValueAt(const Json& schema, const std::string& path, int doc, int depth);
  Expr Typed(const std::string& type, const Json& s, const std::string& path, int doc, int depth);
  Expr Enum(const Json& values, const Json& s, const std::string& path);
  Expr Literal(const Json& value);
  Expr StringValue(const Json& s, const std::string& path);
  Expr NumberValue(const Json& s, const std::string& path, bool integer);
  Expr ObjectValue(const Json& s, const std::string& path, int doc, int depth);
  Expr ArrayValue(const Json& s, const std::string& path, int doc, int depth);
  Expr ExtraKey(const std::vector<std::string>& excluded);
  Expr RefCall(const std::string& ref, const std::string& path, int doc);
  const Json& Resolve(const std::string& ref, const std::string& path, int doc) const;
  Rule CachedRule(const std::string& key, const std::string& name, bool* created);
  void CheckKeywords(const Json& s, const std::string& path) const;

  GrammarBuilder& b_;
  ValueSyntax syntax_;
  SchemaOptions options_;
  std::vector<const Json*> documents_;
  std::map<std::string, Rule> rules_;  // by a key describing what the rule matches
  struct PendingRef {
    Rule rule;
    const Json* target;
    std::string path;
    int doc;
  };
  std::vector<PendingRef> pending_refs_;
  Rule any_value_ = -1, any_object_ = -1, any_array_ = -1;
};

// s[key] as a count; throws CompileError naming path and key otherwise.
int64_t NonNegativeInt(const Json& s, const char* key, const std::string& path);

// allOf: one schema equivalent to all of `schemas` where they combine simply
// (objects, ranges, types, enums); throws CompileError naming the keyword
// that cannot be combined. `resolve` turns a "$ref" into its target.
Json MergeAllOf(const std::vector<Json>& schemas, const std::string& path,
                const std::function<const Json&(const std::string&)>& resolve);

}  // namespace gemma::constrain
