#include "server/constrain/schema_compiler.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "server/constrain/char_set.h"
#include "server/constrain/regex.h"

namespace gemma::constrain {
namespace {

// Keywords that only describe: ignored.
const std::set<std::string, std::less<>> kAnnotations = {
    "title",    "description", "default",    "examples",         "example",
    "$comment", "$schema",     "$id",        "$anchor",          "deprecated",
    "readOnly", "writeOnly",   "$defs",      "definitions",      "$vocabulary",
    "contentMediaType", "contentEncoding", "contentSchema", "discriminator", "xml",
    "externalDocs"};
// Keywords that constrain values and that we cannot enforce: rejected.
const std::set<std::string, std::less<>> kUnsupported = {
    "not",           "if",
    "then",          "else",
    "patternProperties", "propertyNames",
    "minProperties", "maxProperties",
    "dependentRequired", "dependentSchemas",
    "dependencies",  "unevaluatedProperties",
    "unevaluatedItems", "contains",
    "minContains",   "maxContains",
    "$dynamicRef",   "$recursiveRef",
    "$dynamicAnchor", "$recursiveAnchor"};
const std::set<std::string, std::less<>> kTypes = {"null",   "boolean", "integer", "number",
                                                   "string", "array",   "object"};

// Regular expressions for the supported string formats (RFC 3339 dates and
// times with real month lengths and leap years, RFC 4122 UUIDs, dotted-quad
// IPv4, and a conservative dot-atom email address).
const char* FormatPattern(const std::string& format) {
  if (format == "date") {
    return "^(\\d{4}-(0[13578]|1[02])-(0[1-9]|[12]\\d|3[01])|\\d{4}-(0[469]|11)-(0[1-9]|[12]\\d|30)"
           "|\\d{4}-02-(0[1-9]|1\\d|2[0-8])"
           "|(\\d\\d(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00)-02-29)$";
  }
  if (format == "time") {
    return "^([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d{1,9})?(Z|[+-]([01]\\d|2[0-3]):[0-5]\\d)$";
  }
  if (format == "date-time") {
    return "^(\\d{4}-(0[13578]|1[02])-(0[1-9]|[12]\\d|3[01])|\\d{4}-(0[469]|11)-(0[1-9]|[12]\\d|30)"
           "|\\d{4}-02-(0[1-9]|1\\d|2[0-8])"
           "|(\\d\\d(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00)-02-29)"
           "T([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d{1,9})?(Z|[+-]([01]\\d|2[0-3]):[0-5]\\d)$";
  }
  if (format == "uuid") {
    return "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
  }
  if (format == "ipv4") {
    return "^((25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)$";
  }
  if (format == "email") {
    return "^[A-Za-z0-9_%+-]+(\\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
           "(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$";
  }
  return nullptr;
}

bool HasValidationKeywords(const Json& s) {
  for (const auto& [key, value] : s.items()) {
    if (!kAnnotations.count(key) && key.rfind("x-", 0) != 0) return true;
  }
  return false;
}

Json Without(const Json& s, const char* key) {
  Json out = s;
  out.erase(key);
  return out;
}

bool MatchesType(const Json& v, const std::string& type) {
  if (type == "null") return v.is_null();
  if (type == "boolean") return v.is_boolean();
  if (type == "string") return v.is_string();
  if (type == "array") return v.is_array();
  if (type == "object") return v.is_object();
  if (type == "number") return v.is_number();
  if (type == "integer") {
    if (v.is_number_integer()) return true;
    if (!v.is_number_float()) return false;
    const double d = v.get<double>();
    return std::abs(d) < 1e18 && d == static_cast<double>(static_cast<int64_t>(d));
  }
  return false;
}

}  // namespace

int64_t NonNegativeInt(const Json& s, const char* key, const std::string& path) {
  const Json& v = s.at(key);
  if (v.is_number_unsigned()) return static_cast<int64_t>(std::min<uint64_t>(v.get<uint64_t>(), kUnbounded));
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    return std::min<int64_t>(v.get<int64_t>(), kUnbounded);
  }
  if (v.is_number_float() && v.get<double>() >= 0 && v.get<double>() < 1e15 &&
      v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>()))) {
    return std::min<int64_t>(static_cast<int64_t>(v.get<double>()), kUnbounded);
  }
  throw CompileError(path + ": " + key + " must be a non-negative integer");
}

SchemaCompiler::SchemaCompiler(GrammarBuilder& b, ValueSyntax syntax, const SchemaOptions& options)
    : b_(b), syntax_(std::move(syntax)), options_(options) {}

int SchemaCompiler::AddDocument(const Json* document) {
  documents_.push_back(document);
  return static_cast<int>(documents_.size()) - 1;
}

SchemaCompiler::Expr SchemaCompiler::Value(const Json& schema, const std::string& path, int doc) {
  return ValueAt(schema, path, doc, 0);
}

void SchemaCompiler::Finish() {
  while (!pending_refs_.empty()) {
    const PendingRef p = pending_refs_.back();
    pending_refs_.pop_back();
    b_.SetBody(p.rule, ValueAt(*p.target, p.path, p.doc, 0));
  }
}

SchemaCompiler::Expr SchemaCompiler::Ws() {
  if (!syntax_.json || !options_.whitespace.allow) return b_.Empty();
  const int indent = std::max(0, options_.whitespace.max_indent);
  return b_.Optional(b_.Alt(
      {b_.Byte(' '), b_.Seq({b_.Byte('\n'), b_.Repeat(b_.Alt({b_.Byte(' '), b_.Byte('\t')}), 0, indent)})}));
}

SchemaCompiler::Expr SchemaCompiler::Key(const std::string& key) {
  if (syntax_.json) return b_.Seq({b_.Literal(Json(key).dump()), Ws(), b_.Byte(':'), Ws()});
  return b_.Seq({b_.Literal(key), b_.Byte(':')});
}

SchemaCompiler::Expr SchemaCompiler::StringLiteral(const std::string& s) {
  if (syntax_.json) return b_.Literal(Json(s).dump());
  return b_.Seq({b_.Token(syntax_.string_delimiter), b_.Literal(s), b_.Token(syntax_.string_delimiter)});
}

SchemaCompiler::Rule SchemaCompiler::CachedRule(const std::string& key, const std::string& name,
                                                bool* created) {
  const auto it = rules_.find(key);
  if (it != rules_.end()) {
    *created = false;
    return it->second;
  }
  *created = true;
  const Rule r = b_.AddRule(name);
  rules_.emplace(key, r);
  return r;
}

void SchemaCompiler::CheckKeywords(const Json& s, const std::string& path) const {
  for (const auto& [key, value] : s.items()) {
    if (kUnsupported.count(key)) {
      throw CompileError(path + ": keyword '" + key + "' is not supported");
    }
  }
  if (s.contains("uniqueItems") && s["uniqueItems"] != false) {
    throw CompileError(path + ": keyword 'uniqueItems' is not supported (only false)");
  }
}

const Json& SchemaCompiler::Resolve(const std::string& ref, const std::string& path, int doc) const {
  if (ref.empty() || ref[0] != '#') {
    throw CompileError(path + ": only local $ref (\"#/...\") is supported, not \"" + ref + "\"");
  }
  const Json* node = documents_[doc];
  std::string pointer = ref.substr(1);
  if (!pointer.empty() && pointer[0] != '/') {
    throw CompileError(path + ": $ref \"" + ref + "\": anchors are not supported, use a JSON pointer");
  }
  size_t pos = 0;
  while (pos < pointer.size()) {
    const size_t next = pointer.find('/', pos + 1);
    std::string raw = pointer.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
    pos = next == std::string::npos ? pointer.size() : next;
    std::string token;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token.push_back(raw[++i] == '0' ? '~' : '/');
      } else if (raw[i] == '%' && i + 2 < raw.size() && std::isxdigit(static_cast<unsigned char>(raw[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(raw[i + 2]))) {
        token.push_back(static_cast<char>(std::stoi(raw.substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        token.push_back(raw[i]);
      }
    }
    if (node->is_object() && node->contains(token)) {
      node = &(*node)[token];
    } else if (node->is_array() && !token.empty() &&
               token.find_first_not_of("0123456789") == std::string::npos && token.size() < 10 &&
               std::stoul(token) < node->size()) {
      node = &(*node)[std::stoul(token)];
    } else {
      throw CompileError(path + ": $ref \"" + ref + "\" does not resolve");
    }
  }
  return *node;
}

SchemaCompiler::Expr SchemaCompiler::RefCall(const std::string& ref, const std::string& path, int doc) {
  bool created;
  const Rule r = CachedRule("ref:" + std::to_string(doc) + ":" + ref, ref, &created);
  if (created) pending_refs_.push_back({r, &Resolve(ref, path, doc), ref, doc});
  return b_.Call(r);
}

SchemaCompiler::Expr SchemaCompiler::ValueAt(const Json& s, const std::string& path, int doc, int depth) {
  if (depth > options_.max_depth) {
    throw CompileError(path + ": schema nested deeper than " + std::to_string(options_.max_depth) + " levels");
  }
  if (s.is_boolean()) return s.get<bool>() ? AnyValue() : b_.Nothing();
  if (!s.is_object()) throw CompileError(path + ": a schema must be an object or a boolean");
  CheckKeywords(s, path);
  auto resolver = [&](const std::string& ref) -> const Json& { return Resolve(ref, path, doc); };
  if (s.contains("$ref")) {
    if (!s["$ref"].is_string()) throw CompileError(path + ": $ref must be a string");
    const std::string ref = s["$ref"].get<std::string>();
    const Json rest = Without(s, "$ref");
    if (!HasValidationKeywords(rest)) {
      // A chain of bare $refs that comes back to itself describes nothing.
      std::vector<const Json*> seen = {&s};
      for (const Json* cur = &Resolve(ref, path, doc);
           cur->is_object() && cur->contains("$ref") && (*cur)["$ref"].is_string() &&
           !HasValidationKeywords(Without(*cur, "$ref"));
           cur = &Resolve((*cur)["$ref"].get<std::string>(), path, doc)) {
        if (std::find(seen.begin(), seen.end(), cur) != seen.end()) {
          throw CompileError(path + ": $ref \"" + ref + "\" refers to itself without describing a value");
        }
        seen.push_back(cur);
      }
      return RefCall(ref, path, doc);
    }
    return ValueAt(MergeAllOf({Resolve(ref, path, doc), rest}, path, resolver), path, doc, depth + 1);
  }
  if (s.contains("allOf")) {
    const Json& all = s["allOf"];
    if (!all.is_array() || all.empty()) throw CompileError(path + ": allOf must be a non-empty array");
    std::vector<Json> parts(all.begin(), all.end());
    parts.push_back(Without(s, "allOf"));
    return ValueAt(MergeAllOf(parts, path + "/allOf", resolver), path + "/allOf", doc, depth + 1);
  }
  if (s.contains("anyOf") || s.contains("oneOf")) {
    if (s.contains("anyOf") && s.contains("oneOf")) {
      throw CompileError(path + ": anyOf together with oneOf is not supported");
    }
    const char* key = s.contains("anyOf") ? "anyOf" : "oneOf";
    const Json& branches = s[key];
    if (!branches.is_array() || branches.empty()) {
      throw CompileError(path + ": " + key + " must be a non-empty array");
    }
    const Json rest = Without(s, key);
    const bool merge = HasValidationKeywords(rest);
    std::vector<Expr> options;
    for (size_t i = 0; i < branches.size(); ++i) {
      const std::string p = path + "/" + key + "/" + std::to_string(i);
      options.push_back(merge ? ValueAt(MergeAllOf({rest, branches[i]}, p, resolver), p, doc, depth + 1)
                              : ValueAt(branches[i], p, doc, depth + 1));
    }
    return b_.Alt(std::move(options));
  }
  const bool nullable = s.contains("nullable") && s["nullable"] == true;
  if (s.contains("enum") || s.contains("const")) {
    Json values = Json::array();
    if (s.contains("enum")) {
      if (!s["enum"].is_array()) throw CompileError(path + ": enum must be an array");
      values = s["enum"];
    }
    if (s.contains("const")) {
      if (s.contains("enum")) {
        const bool listed = std::find(values.begin(), values.end(), s["const"]) != values.end();
        values = listed ? Json::array({s["const"]}) : Json::array();
      } else {
        values = Json::array({s["const"]});
      }
    }
    if (nullable) values.push_back(nullptr);
    return Enum(values, s, path);
  }
  std::vector<std::string> types;
  if (s.contains("type")) {
    const Json& t = s["type"];
    const Json list = t.is_array() ? t : Json::array({t});
    for (const Json& name : list) {
      if (!name.is_string() || !kTypes.count(name.get<std::string>())) {
        throw CompileError(path + ": unknown type " + name.dump());
      }
      types.push_back(name.get<std::string>());
    }
    if (types.empty()) throw CompileError(path + ": type is an empty list");
  } else {
    // No type: the keywords present say which kinds of value are meant.
    auto has = [&](std::initializer_list<const char*> keys) {
      return std::any_of(keys.begin(), keys.end(), [&](const char* k) { return s.contains(k); });
    };
    if (has({"properties", "required", "additionalProperties"})) types.push_back("object");
    if (has({"items", "prefixItems", "minItems", "maxItems", "additionalItems"})) types.push_back("array");
    if (has({"minLength", "maxLength", "pattern", "format"})) types.push_back("string");
    if (has({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})) {
      types.push_back("number");
    }
    if (types.empty()) return AnyValue();
  }
  if (nullable && std::find(types.begin(), types.end(), "null") == types.end()) types.push_back("null");
  std::vector<Expr> options;
  for (const std::string& t : types) options.push_back(Typed(t, s, path, doc, depth));
  return b_.Alt(std::move(options));
}

SchemaCompiler::Expr SchemaCompiler::Typed(const std::string& type, const Json& s,
                                           const std::string& path, int doc, int depth) {
  if (type == "null") return b_.Literal("null");
  if (type == "boolean") return b_.Alt({b_.Literal("true"), b_.Literal("false")});
  if (type == "integer") return NumberValue(s, path, true);
  if (type == "number") return NumberValue(s, path, false);
  if (type == "string") return StringValue(s, path);
  if (type == "array") return ArrayValue(s, path, doc, depth);
  return ObjectValue(s, path, doc, depth);
}

SchemaCompiler::Expr SchemaCompiler::Enum(const Json& values, const Json& s, const std::string& path) {
  for (const auto& [key, value] : s.items()) {
    if (key == "enum" || key == "const" || key == "type" || key == "nullable") continue;
    if (kAnnotations.count(key) || key.rfind("x-", 0) == 0) continue;
    throw CompileError(path + ": combining enum/const with '" + key + "' is not supported");
  }
  std::vector<std::string> types;
  if (s.contains("type")) {
    for (const Json& t : s["type"].is_array() ? s["type"] : Json::array({s["type"]})) {
      if (t.is_string()) types.push_back(t.get<std::string>());
    }
    if (s.contains("nullable") && s["nullable"] == true) types.push_back("null");
  }
  std::vector<Expr> options;
  for (const Json& v : values) {
    if (!types.empty() && std::none_of(types.begin(), types.end(),
                                       [&](const std::string& t) { return MatchesType(v, t); })) {
      continue;
    }
    options.push_back(Literal(v));
  }
  if (options.empty()) throw CompileError(path + ": no enum/const value is allowed by the schema");
  return b_.Alt(std::move(options));
}

SchemaCompiler::Expr SchemaCompiler::Literal(const Json& v) {
  if (syntax_.json) return b_.Literal(v.dump());
  if (v.is_string()) return StringLiteral(v.get<std::string>());
  if (v.is_array()) {
    std::vector<Expr> parts = {b_.Byte('[')};
    for (size_t i = 0; i < v.size(); ++i) {
      if (i > 0) parts.push_back(b_.Byte(','));
      parts.push_back(Literal(v[i]));
    }
    parts.push_back(b_.Byte(']'));
    return b_.Seq(std::move(parts));
  }
  if (v.is_object()) {
    std::vector<Expr> parts = {b_.Byte('{')};
    bool first = true;
    for (const auto& [key, value] : v.items()) {
      if (!first) parts.push_back(b_.Byte(','));
      first = false;
      parts.push_back(Key(key));
      parts.push_back(Literal(value));
    }
    parts.push_back(b_.Byte('}'));
    return b_.Seq(std::move(parts));
  }
  return b_.Literal(v.dump());
}

SchemaCompiler::Expr SchemaCompiler::StringValue(const Json& s, const std::string& path) {
  int64_t min = 0, max = kUnbounded;
  if (s.contains("minLength")) min = NonNegativeInt(s, "minLength", path);
  if (s.contains("maxLength")) max = NonNegativeInt(s, "maxLength", path);
  if (min > max) {
    throw CompileError(path + ": minLength " + std::to_string(min) + " is above maxLength " +
                       std::to_string(max));
  }
  std::string pattern;
  if (s.contains("pattern")) {
    if (!s["pattern"].is_string()) throw CompileError(path + ": pattern must be a string");
    pattern = s["pattern"].get<std::string>();
  }
  if (s.contains("format")) {
    if (!s["format"].is_string()) throw CompileError(path + ": format must be a string");
    const std::string format = s["format"].get<std::string>();
    const char* regex = FormatPattern(format);
    if (!regex) {
      throw CompileError(path + ": format '" + format +
                         "' is not supported (supported: date, time, date-time, uuid, ipv4, email)");
    }
    if (!pattern.empty()) throw CompileError(path + ": combining format with pattern is not supported");
    pattern = regex;
  }
  const bool lengths = s.contains("minLength") || s.contains("maxLength");
  if (!pattern.empty() && lengths) {
    throw CompileError(path + ": combining " + std::string(s.contains("format") ? "format" : "pattern") +
                       " with minLength/maxLength is not supported");
  }
  bool created;
  const std::string key = "str:" + std::to_string(min) + ":" + std::to_string(max) + ":" + pattern;
  const Rule r = CachedRule(key, path + " (string)", &created);
  if (!created) return b_.Call(r);
  const Expr open = syntax_.json ? b_.Byte('"') : b_.Token(syntax_.string_delimiter);
  const Expr close = syntax_.json ? b_.Byte('"') : b_.Token(syntax_.string_delimiter);
  const StringEncoding enc = syntax_.json ? StringEncoding::kJsonString : StringEncoding::kRawUtf8;
  if (!pattern.empty()) {
    Expr body;
    try {
      body = CompileRegex(b_, pattern, enc);
    } catch (const CompileError& e) {
      throw CompileError(path + ": " + e.what());
    }
    b_.SetBody(r, b_.Seq({open, body, close}));
  } else {
    const Expr unit = syntax_.json ? JsonStringChar(b_) : EncodeCharSet(b_, CharSet::All(), enc);
    b_.SetCountedBody(r, {open, unit, b_.Empty(), close, close, static_cast<int32_t>(min),
                          static_cast<int32_t>(max)});
  }
  return b_.Call(r);
}

SchemaCompiler::Expr SchemaCompiler::NumberValue(const Json& s, const std::string& path, bool integer) {
  std::optional<NumberBound> lo, hi;
  auto number = [&](const char* key) {
    if (!s[key].is_number()) throw CompileError(path + ": " + key + " must be a number");
    return s[key].dump();
  };
  auto tighter = [](std::optional<NumberBound>& cur, NumberBound b, bool lower, const Json& s, const char* k) {
    if (!cur) {
      cur = b;
      return;
    }
    const double a = std::stod(cur->text), c = s[k].get<double>();
    if ((lower && (c > a || (c == a && b.exclusive))) || (!lower && (c < a || (c == a && b.exclusive)))) cur = b;
  };
  if (s.contains("minimum")) lo = NumberBound{number("minimum"), false};
  if (s.contains("maximum")) hi = NumberBound{number("maximum"), false};
  for (const char* key : {"exclusiveMinimum", "exclusiveMaximum"}) {
    if (!s.contains(key)) continue;
    const bool lower = std::string_view(key) == "exclusiveMinimum";
    std::optional<NumberBound>& bound = lower ? lo : hi;
    if (s[key].is_boolean()) {  // draft 4: qualifies minimum / maximum
      if (s[key].get<bool>() && bound) bound->exclusive = true;
    } else {
      tighter(bound, NumberBound{number(key), true}, lower, s, key);
    }
  }
  if (s.contains("multipleOf")) {
    const Json& m = s["multipleOf"];
    if (!m.is_number() || m.get<double>() != 1.0) {
      throw CompileError(path + ": multipleOf is not supported (except 1)");
    }
    integer = true;
  }
  try {
    return NumberExpr(b_, lo, hi, integer, options_.numbers);
  } catch (const CompileError& e) {
    throw CompileError(path + ": " + e.what());
  }
}

// A key of an additional property: a string without escapes whose text is
// none of `excluded` (the declared property names, which have their own
// schemas). A trie of the excluded names decides where the string may end.
SchemaCompiler::Expr SchemaCompiler::ExtraKey(const std::vector<std::string>& excluded) {
  CharSet chars = CharSet::All();
  chars = chars.Minus(CharSet::Range(0, 0x1F).Add('"', '"').Add('\\', '\\'));
  const Expr quote = b_.Byte('"');
  if (excluded.empty()) {
    return b_.Seq({quote, b_.Star(EncodeCharSet(b_, chars, StringEncoding::kRawUtf8)), quote});
  }
  // Trie over code points of the excluded names.
  struct Node {
    std::map<uint32_t, int> children;
    bool terminal = false;
  };
  std::vector<Node> trie(1);
  for (const std::string& key : excluded) {
    int node = 0;
    for (size_t i = 0; i < key.size();) {
      const auto c = static_cast<uint8_t>(key[i]);
      const int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
      uint32_t cp = n == 1 ? c : c & (0x7F >> n);
      for (int k = 1; k < n && i + k < key.size(); ++k) cp = (cp << 6) | (key[i + k] & 0x3F);
      i += n;
      auto it = trie[node].children.find(cp);
      if (it == trie[node].children.end()) {
        trie.push_back({});
        it = trie[node].children.emplace(cp, static_cast<int>(trie.size()) - 1).first;
      }
      node = it->second;
    }
    trie[node].terminal = true;
  }
  // Graph nodes: 0 start, 1..T trie nodes, T+1 free, T+2 end.
  const int t = static_cast<int>(trie.size());
  const int free = t + 1, end = t + 2;
  std::vector<GrammarBuilder::GraphEdge> edges = {{0, 1, quote}};
  const Expr any = EncodeCharSet(b_, chars, StringEncoding::kRawUtf8);
  edges.push_back({free, free, any});
  edges.push_back({free, end, quote});
  for (int i = 0; i < t; ++i) {
    CharSet others = chars;
    for (const auto& [cp, child] : trie[i].children) {
      if (!chars.Contains(cp)) continue;  // a name needing escapes: unreachable
      std::string bytes;
      AppendUtf8(cp, &bytes);
      edges.push_back({i + 1, child + 1, b_.Literal(bytes)});
      others = others.Minus(CharSet::Single(cp));
    }
    edges.push_back({i + 1, free, EncodeCharSet(b_, others, StringEncoding::kRawUtf8)});
    if (!trie[i].terminal) edges.push_back({i + 1, end, quote});
  }
  return b_.Graph(end + 1, std::move(edges));
}

}  // namespace gemma::constrain
