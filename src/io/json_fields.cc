#include "io/json_fields.h"

#include <cmath>
#include <utility>

#include "base/error.h"

namespace gemma {

std::string JsonTypeName(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::object:
      return "an object";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      return "a number";
    default:
      return "not a JSON value";
  }
}

JsonObject::JsonObject(const nlohmann::json& json, std::string origin, std::string path)
    : json_(&json), origin_(std::move(origin)), path_(std::move(path)) {
  if (!json.is_object()) {
    if (path_.empty())
      gemma::Fail(origin_, ": expected a JSON object but found ", JsonTypeName(json));
    gemma::Fail(origin_, ": key '", path_, "' should be an object but is ", JsonTypeName(json));
  }
}

std::string JsonObject::KeyPath(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void JsonObject::Fail(std::string_view key, std::string_view what) const {
  gemma::Fail(origin_, ": key '", KeyPath(key), "' ", what);
}

bool JsonObject::Has(std::string_view key) const { return json_->contains(key); }

const nlohmann::json* JsonObject::Find(std::string_view key, Null null,
                                       const char* expected) const {
  const auto it = json_->find(key);
  if (it == json_->end()) return nullptr;
  if (it->is_null()) {
    if (null == Null::kMeansAbsent) return nullptr;
    Fail(key, Concat("should be ", expected, " but is null"));
  }
  return &*it;
}

std::optional<std::string> JsonObject::String(std::string_view key, Null null) const {
  const nlohmann::json* v = Find(key, null, "a string");
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) Fail(key, "should be a string but is " + JsonTypeName(*v));
  return v->get<std::string>();
}

std::optional<double> JsonObject::Number(std::string_view key, Null null) const {
  const nlohmann::json* v = Find(key, null, "a number");
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) Fail(key, "should be a number but is " + JsonTypeName(*v));
  const double number = v->get<double>();
  if (!std::isfinite(number)) Fail(key, "is not a finite number");
  return number;
}

namespace {

// An integer in [min, max] from a JSON number, or an error naming key_path.
int64_t CheckedInteger(const nlohmann::json& v, const std::string& origin,
                       const std::string& key_path, int64_t min, int64_t max) {
  auto fail = [&](const std::string& what) { Fail(origin, ": key '", key_path, "' ", what); };
  auto out_of_range = [&](const std::string& shown) {
    fail(Concat("is ", shown, ", outside ", min, "..", max));
  };
  if (v.is_number_unsigned()) {  // nlohmann::json reads every integer >= 0 as unsigned
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(max) || (min > 0 && u < static_cast<uint64_t>(min))) {
      out_of_range(std::to_string(u));
    }
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i < min || i > max) out_of_range(std::to_string(i));
    return i;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d)) fail("should be an integer but is " + v.dump());
    // Compared as doubles before converting, so a huge value never reaches
    // an out-of-range float-to-int conversion.
    if (d < static_cast<double>(min) || d > static_cast<double>(max)) out_of_range(v.dump());
    return static_cast<int64_t>(d);
  }
  fail("should be an integer but is " + JsonTypeName(v));
  return 0;  // not reached: fail throws
}

}  // namespace

std::optional<int64_t> JsonObject::Integer(std::string_view key, int64_t min, int64_t max,
                                           Null null) const {
  const nlohmann::json* v = Find(key, null, "an integer");
  if (v == nullptr) return std::nullopt;
  return CheckedInteger(*v, origin_, KeyPath(key), min, max);
}

int64_t ArrayElementInteger(const JsonObject& parent, std::string_view key, size_t index,
                            int64_t min, int64_t max) {
  const nlohmann::json* array = parent.Array(key);
  if (array == nullptr || index >= array->size()) {
    parent.Fail(key, Concat("has no element ", index));
  }
  return CheckedInteger((*array)[index], parent.origin(),
                        parent.KeyPath(key) + "[" + std::to_string(index) + "]", min, max);
}

std::optional<bool> JsonObject::Bool(std::string_view key, Null null) const {
  const nlohmann::json* v = Find(key, null, "a boolean");
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) Fail(key, "should be a boolean but is " + JsonTypeName(*v));
  return v->get<bool>();
}

std::optional<JsonObject> JsonObject::Object(std::string_view key, Null null) const {
  const nlohmann::json* v = Find(key, null, "an object");
  if (v == nullptr) return std::nullopt;
  return JsonObject(*v, origin_, KeyPath(key));
}

const nlohmann::json* JsonObject::Array(std::string_view key, Null null) const {
  const nlohmann::json* v = Find(key, null, "an array");
  if (v == nullptr) return nullptr;
  if (!v->is_array()) Fail(key, "should be an array but is " + JsonTypeName(*v));
  return v;
}

JsonObject ArrayElementObject(const JsonObject& parent, std::string_view key, size_t index) {
  const nlohmann::json* array = parent.Array(key);
  if (array == nullptr || index >= array->size()) {
    parent.Fail(key, Concat("has no element ", index));
  }
  return JsonObject((*array)[index], parent.origin(),
                    parent.KeyPath(key) + "[" + std::to_string(index) + "]");
}

nlohmann::json ParseJsonText(std::string_view text, const std::string& origin) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte: 1-based position of the error, enough to find it in an editor.
    Fail(origin, ": not valid JSON (syntax error at byte ", static_cast<uint64_t>(e.byte), ")");
  }
}

}  // namespace gemma
