// Objects, arrays and "any JSON value" for SchemaCompiler.
#include <algorithm>

#include "server/constrain/char_set.h"
#include "server/constrain/schema_compiler.h"

namespace gemma::constrain {

SchemaCompiler::Expr SchemaCompiler::ObjectValue(const Json& s, const std::string& path, int doc,
                                                 int depth) {
  bool created;
  const Rule r = CachedRule("obj:" + std::to_string(doc) + ":" + (syntax_.json ? "j:" : "d:") + s.dump(),
                            path, &created);
  if (!created) return b_.Call(r);
  struct Property {
    std::string key;
    Expr value;
    bool required;
  };
  std::vector<Property> props;
  std::vector<std::string> required;
  if (s.contains("required")) {
    if (!s["required"].is_array()) throw CompileError(path + ": required must be an array of strings");
    for (const Json& k : s["required"]) {
      if (!k.is_string()) throw CompileError(path + ": required must be an array of strings");
      if (std::find(required.begin(), required.end(), k.get<std::string>()) == required.end()) {
        required.push_back(k.get<std::string>());
      }
    }
  }
  // What additional properties may be: none, any value, or a schema.
  Json extra = !options_.forbid_unlisted_properties;
  if (s.contains("additionalProperties")) {
    extra = s["additionalProperties"];
    if (!extra.is_boolean() && !extra.is_object()) {
      throw CompileError(path + ": additionalProperties must be a boolean or a schema");
    }
  }
  const bool extra_allowed = !(extra.is_boolean() && !extra.get<bool>());
  auto is_required = [&](const std::string& k) {
    return std::find(required.begin(), required.end(), k) != required.end();
  };
  std::vector<std::string> names;
  if (s.contains("properties")) {
    if (!s["properties"].is_object()) throw CompileError(path + ": properties must be an object");
    for (const auto& [key, sub] : s["properties"].items()) {
      names.push_back(key);
      props.push_back({key, ValueAt(sub, path + "/properties/" + key, doc, depth + 1), is_required(key)});
    }
  }
  // Required names without a property schema take the additional-property schema.
  for (const std::string& k : required) {
    if (std::find(names.begin(), names.end(), k) != names.end()) continue;
    if (!extra_allowed) {
      throw CompileError(path + ": required property '" + k +
                         "' is not in properties and additional properties are not allowed");
    }
    names.push_back(k);
    props.push_back({k, ValueAt(extra, path + "/additionalProperties", doc, depth + 1), true});
  }
  // Graph: start, A_0..A_n (nothing written yet), B_0..B_n (something
  // written: the next property needs a comma), C (additional properties
  // written), end.
  const int n = static_cast<int>(props.size());
  const int start = 0, a0 = 1, b0 = 2 + n, c = 3 + 2 * n, end = 4 + 2 * n;
  const Expr comma = b_.Seq({Ws(), b_.Byte(','), Ws()});
  std::vector<GrammarBuilder::GraphEdge> edges = {{start, a0, b_.Seq({b_.Byte('{'), Ws()})}};
  for (int i = 0; i < n; ++i) {
    const Expr entry = b_.Seq({Key(props[i].key), props[i].value});
    edges.push_back({a0 + i, b0 + i + 1, entry});
    edges.push_back({b0 + i, b0 + i + 1, b_.Seq({comma, entry})});
    if (!props[i].required) {
      edges.push_back({a0 + i, a0 + i + 1, b_.Empty()});
      edges.push_back({b0 + i, b0 + i + 1, b_.Empty()});
    }
  }
  edges.push_back({a0 + n, end, b_.Byte('}')});
  edges.push_back({b0 + n, end, b_.Seq({Ws(), b_.Byte('}')})});
  // Additional properties are only written in JSON (tool-call syntaxes take
  // the declared parameters; leaving extras out is always valid).
  if (extra_allowed && syntax_.json) {
    const Expr value = ValueAt(extra, path + "/additionalProperties", doc, depth + 1);
    const Expr entry = b_.Seq({ExtraKey(names), Ws(), b_.Byte(':'), Ws(), value});
    edges.push_back({a0 + n, c, entry});
    edges.push_back({b0 + n, c, b_.Seq({comma, entry})});
    edges.push_back({c, c, b_.Seq({comma, entry})});
    edges.push_back({c, end, b_.Seq({Ws(), b_.Byte('}')})});
  }
  b_.SetBody(r, b_.Graph(end + 1, std::move(edges)));
  return b_.Call(r);
}

SchemaCompiler::Expr SchemaCompiler::ArrayValue(const Json& s, const std::string& path, int doc,
                                                int depth) {
  bool created;
  const Rule r = CachedRule("arr:" + std::to_string(doc) + ":" + (syntax_.json ? "j:" : "d:") + s.dump(),
                            path, &created);
  if (!created) return b_.Call(r);
  int64_t min = 0, max = kUnbounded;
  if (s.contains("minItems")) min = NonNegativeInt(s, "minItems", path);
  if (s.contains("maxItems")) max = NonNegativeInt(s, "maxItems", path);
  if (min > max) {
    throw CompileError(path + ": minItems " + std::to_string(min) + " is above maxItems " + std::to_string(max));
  }
  // Leading fixed items and the schema of the rest (none: no more items).
  std::vector<Json> prefix;
  std::optional<Json> rest;
  std::string rest_path = path + "/items";
  auto schema_or_none = [](const Json& v) -> std::optional<Json> {
    if (v.is_boolean() && !v.get<bool>()) return std::nullopt;
    return v;
  };
  if (s.contains("prefixItems") || (s.contains("items") && s["items"].is_array())) {
    const Json& p = s.contains("prefixItems") ? s["prefixItems"] : s["items"];
    if (!p.is_array()) throw CompileError(path + ": prefixItems must be an array");
    prefix.assign(p.begin(), p.end());
    const char* rest_key = s.contains("prefixItems") ? "items" : "additionalItems";
    rest_path = path + "/" + rest_key;
    // Without a schema for the rest, write no more items unless minItems
    // needs them (fewer items are valid anyway).
    if (s.contains(rest_key)) {
      rest = schema_or_none(s[rest_key]);
    } else if (min > static_cast<int64_t>(prefix.size())) {
      rest = Json(true);
    }
  } else if (s.contains("items")) {
    rest = schema_or_none(s["items"]);
  } else {
    rest = Json(true);
  }
  const int64_t k = static_cast<int64_t>(prefix.size());
  if (!rest) max = std::min(max, k);
  if (min > max) throw CompileError(path + ": no array satisfies minItems with the allowed items");
  const Expr comma = b_.Seq({Ws(), b_.Byte(','), Ws()});
  const Expr close = b_.Seq({Ws(), b_.Byte(']')});
  if (k == 0) {
    const Expr unit = rest ? ValueAt(*rest, rest_path, doc, depth + 1) : b_.Nothing();
    b_.SetCountedBody(r, {b_.Seq({b_.Byte('['), Ws()}), unit, comma, close, b_.Byte(']'),
                          static_cast<int32_t>(min), static_cast<int32_t>(max)});
    return b_.Call(r);
  }
  // Graph: start, P_0..P_m (i items written), end; m = min(k, max).
  const int64_t m = std::min(k, max);
  const int start = 0, p0 = 1, end = static_cast<int>(m) + 2;
  std::vector<GrammarBuilder::GraphEdge> edges = {{start, p0, b_.Seq({b_.Byte('['), Ws()})}};
  for (int64_t i = 0; i < m; ++i) {
    const Expr item = ValueAt(prefix[i], path + "/prefixItems/" + std::to_string(i), doc, depth + 1);
    edges.push_back({static_cast<int>(p0 + i), static_cast<int>(p0 + i + 1), i == 0 ? item : b_.Seq({comma, item})});
    if (i >= min) edges.push_back({static_cast<int>(p0 + i), end, i == 0 ? b_.Byte(']') : close});
  }
  if (rest && max > k) {
    // The rest: a counted rule of ", item" units that also closes the array.
    const Rule tail = b_.AddRule(path + " (more items)");
    const Expr unit = b_.Seq({comma, ValueAt(*rest, rest_path, doc, depth + 1)});
    b_.SetCountedBody(tail, {b_.Empty(), unit, b_.Empty(), close, close,
                             static_cast<int32_t>(std::max<int64_t>(0, min - k)),
                             static_cast<int32_t>(max == kUnbounded ? kUnbounded : max - k)});
    edges.push_back({static_cast<int>(p0 + m), end, b_.Call(tail)});
  } else {
    edges.push_back({static_cast<int>(p0 + m), end, close});
  }
  b_.SetBody(r, b_.Graph(end + 1, std::move(edges)));
  return b_.Call(r);
}

SchemaCompiler::Expr SchemaCompiler::AnyValue() {
  if (any_value_ >= 0) return b_.Call(any_value_);
  any_value_ = b_.AddRule("any value");
  any_object_ = b_.AddRule("any object");
  any_array_ = b_.AddRule("any array");
  const Expr string = StringValue(Json::object(), "any string");
  const Expr number = NumberExpr(b_, std::nullopt, std::nullopt, false, options_.numbers);
  b_.SetBody(any_value_, b_.Alt({b_.Call(any_object_), b_.Call(any_array_), string, number,
                                 b_.Literal("true"), b_.Literal("false"), b_.Literal("null")}));
  const Expr comma = b_.Seq({Ws(), b_.Byte(','), Ws()});
  // Keys: any JSON string; bare identifiers in the tool-call syntaxes.
  Expr key;
  if (syntax_.json) {
    key = b_.Seq({string, Ws(), b_.Byte(':'), Ws()});
  } else {
    const Expr first = b_.Alt({b_.Bytes('a', 'z'), b_.Bytes('A', 'Z'), b_.Byte('_')});
    key = b_.Seq({first, b_.Star(b_.Alt({first, b_.Bytes('0', '9')})), b_.Byte(':')});
  }
  b_.SetCountedBody(any_object_, {b_.Seq({b_.Byte('{'), Ws()}), b_.Seq({key, b_.Call(any_value_)}),
                                  comma, b_.Seq({Ws(), b_.Byte('}')}), b_.Byte('}'), 0, kUnbounded});
  b_.SetCountedBody(any_array_, {b_.Seq({b_.Byte('['), Ws()}), b_.Call(any_value_), comma,
                                 b_.Seq({Ws(), b_.Byte(']')}), b_.Byte(']'), 0, kUnbounded});
  return b_.Call(any_value_);
}

SchemaCompiler::Expr SchemaCompiler::AnyObject() {
  AnyValue();
  return b_.Call(any_object_);
}

}  // namespace gemma::constrain
