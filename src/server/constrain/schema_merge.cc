// allOf: merging subschemas into one, where that is exact.
#include <algorithm>
#include <set>

#include "server/constrain/schema_compiler.h"

namespace gemma::constrain {
namespace {

constexpr int kMaxRefHops = 32;

const std::set<std::string, std::less<>> kDescriptive = {
    "title", "description", "default", "examples", "example", "$comment", "$schema", "$id",
    "$anchor", "deprecated", "readOnly", "writeOnly", "$defs", "definitions"};

std::set<std::string> TypeSet(const Json& t) {
  std::set<std::string> out;
  for (const Json& name : t.is_array() ? t : Json::array({t})) {
    if (name.is_string()) out.insert(name.get<std::string>());
  }
  return out;
}

Json AllOf(const Json& a, const Json& b) {
  if (a == b) return a;
  return Json{{"allOf", Json::array({a, b})}};
}

class Merger {
 public:
  Merger(const std::string& path, const std::function<const Json&(const std::string&)>& resolve)
      : path_(path), resolve_(resolve) {}

  void Add(const Json& schema, int hops = 0) {
    if (hops > kMaxRefHops) throw CompileError(path_ + ": $ref chain too long in allOf");
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) unsatisfiable_ = true;
      return;
    }
    if (!schema.is_object()) throw CompileError(path_ + ": a schema must be an object or a boolean");
    if (schema.contains("$ref")) {
      if (!schema["$ref"].is_string()) throw CompileError(path_ + ": $ref must be a string");
      Add(resolve_(schema["$ref"].get<std::string>()), hops + 1);
    }
    if (schema.contains("allOf")) {
      if (!schema["allOf"].is_array()) throw CompileError(path_ + ": allOf must be an array");
      for (const Json& part : schema["allOf"]) Add(part, hops + 1);
    }
    // Per branch: its property names and additionalProperties, applied at the end.
    if (schema.contains("additionalProperties")) {
      std::set<std::string> names;
      if (schema.contains("properties") && schema["properties"].is_object()) {
        for (const auto& [k, v] : schema["properties"].items()) names.insert(k);
      }
      closed_.push_back({std::move(names), schema["additionalProperties"]});
    }
    for (const auto& [key, value] : schema.items()) {
      if (key == "$ref" || key == "allOf" || kDescriptive.count(key)) continue;
      Combine(key, value);
    }
  }

  Json Finish() {
    if (unsatisfiable_) return Json(false);
    // A branch's additionalProperties governs the properties the other
    // branches declare and it does not.
    if (out_.contains("properties")) {
      Json& props = out_["properties"];
      for (const auto& [names, extra] : closed_) {
        std::vector<std::string> drop;
        for (auto& [k, v] : props.items()) {
          if (names.count(k)) continue;
          if (extra.is_boolean() && !extra.get<bool>()) {
            drop.push_back(k);
          } else if (extra.is_object()) {
            v = AllOf(v, extra);
          }
        }
        for (const std::string& k : drop) props.erase(k);
      }
    }
    if (out_.contains("required")) {
      for (const Json& k : out_["required"]) {
        if (!k.is_string()) continue;
        const std::string name = k.get<std::string>();
        const bool declared = out_.contains("properties") && out_["properties"].contains(name);
        for (const auto& [names, extra] : closed_) {
          if (!declared && !names.count(name) && extra.is_boolean() && !extra.get<bool>()) {
            throw CompileError(path_ + ": allOf: property '" + name +
                               "' is required by one branch and not allowed by another");
          }
        }
      }
    }
    return out_;
  }

 private:
  [[noreturn]] void CannotCombine(const std::string& key) const {
    throw CompileError(path_ + ": allOf: cannot combine differing '" + key + "' keywords");
  }

  void Combine(const std::string& key, const Json& value) {
    if (!out_.contains(key)) {
      out_[key] = value;
      return;
    }
    Json& cur = out_[key];
    if (cur == value) return;
    if (key == "type") {
      std::set<std::string> a = TypeSet(cur), b = TypeSet(value), both;
      for (const std::string& t : a) {
        if (b.count(t)) both.insert(t);
        else if (t == "number" && b.count("integer")) both.insert("integer");
        else if (t == "integer" && b.count("number")) both.insert("integer");
      }
      if (both.empty()) throw CompileError(path_ + ": allOf: the branches allow no common type");
      cur = Json(std::vector<std::string>(both.begin(), both.end()));
    } else if (key == "properties") {
      if (!cur.is_object() || !value.is_object()) CannotCombine(key);
      for (const auto& [k, v] : value.items()) cur[k] = cur.contains(k) ? AllOf(cur[k], v) : v;
    } else if (key == "required") {
      if (!cur.is_array() || !value.is_array()) CannotCombine(key);
      for (const Json& k : value) {
        if (std::find(cur.begin(), cur.end(), k) == cur.end()) cur.push_back(k);
      }
    } else if (key == "additionalProperties") {
      if (cur == false || value == false) {
        cur = false;
      } else if (cur == true) {
        cur = value;
      } else if (value != true) {
        cur = AllOf(cur, value);
      }
    } else if (key == "items") {
      if (cur.is_array() || value.is_array()) CannotCombine(key);
      cur = AllOf(cur, value);
    } else if (key == "minLength" || key == "minItems" || key == "minimum") {
      if (!cur.is_number() || !value.is_number()) CannotCombine(key);
      if (value.get<double>() > cur.get<double>()) cur = value;
    } else if (key == "maxLength" || key == "maxItems" || key == "maximum") {
      if (!cur.is_number() || !value.is_number()) CannotCombine(key);
      if (value.get<double>() < cur.get<double>()) cur = value;
    } else if (key == "exclusiveMinimum" && cur.is_number() && value.is_number()) {
      if (value.get<double>() > cur.get<double>()) cur = value;
    } else if (key == "exclusiveMaximum" && cur.is_number() && value.is_number()) {
      if (value.get<double>() < cur.get<double>()) cur = value;
    } else if (key == "enum") {
      if (!cur.is_array() || !value.is_array()) CannotCombine(key);
      Json both = Json::array();
      for (const Json& v : cur) {
        if (std::find(value.begin(), value.end(), v) != value.end()) both.push_back(v);
      }
      cur = both;
    } else if (key == "const") {
      throw CompileError(path_ + ": allOf: const values differ, no value satisfies both");
    } else if (key == "nullable") {
      cur = cur == true && value == true;
    } else {
      CannotCombine(key);
    }
  }

  std::string path_;
  const std::function<const Json&(const std::string&)>& resolve_;
  Json out_ = Json::object();
  std::vector<std::pair<std::set<std::string>, Json>> closed_;
  bool unsatisfiable_ = false;
};

}  // namespace

Json MergeAllOf(const std::vector<Json>& schemas, const std::string& path,
                const std::function<const Json&(const std::string&)>& resolve) {
  Merger m(path, resolve);
  for (const Json& s : schemas) m.Add(s);
  return m.Finish();
}

}  // namespace gemma::constrain
