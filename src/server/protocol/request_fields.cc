#include "server/protocol/request_fields.h"

#include <cmath>
#include <sstream>

namespace gemma::protocol {

using json = nlohmann::json;

namespace {

std::string FormatNumber(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

}  // namespace

const char* JsonTypeName(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    default:
      return "value";
  }
}

const json* Fields::Get(std::string_view key) const {
  if (!object_.is_object()) return nullptr;
  const auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

void Fields::Fail(ApiError error) {
  if (!error_) error_ = std::move(error);
}

const json* Fields::Require(std::string_view key) {
  const json* value = Get(key);
  if (value == nullptr && ok()) {
    Fail(InvalidRequest("'" + Param(key) + "' is required", Param(key)));
  }
  return value;
}

void Fields::Bool(std::string_view key, std::optional<bool>* out) {
  const json* value = Get(key);
  if (!ok() || value == nullptr) return;
  if (!value->is_boolean()) {
    Fail(InvalidRequest("'" + Param(key) + "' must be a boolean, not " + JsonTypeName(*value),
                        Param(key)));
    return;
  }
  *out = value->get<bool>();
}

void Fields::Bool(std::string_view key, bool* out) {
  std::optional<bool> value;
  Bool(key, &value);
  if (value) *out = *value;
}

void Fields::Number(std::string_view key, double min, double max, std::optional<double>* out) {
  const json* value = Get(key);
  if (!ok() || value == nullptr) return;
  if (!value->is_number()) {
    Fail(InvalidRequest("'" + Param(key) + "' must be a number, not " + JsonTypeName(*value),
                        Param(key)));
    return;
  }
  const double v = value->get<double>();
  if (!(v >= min && v <= max)) {
    Fail(InvalidRequest("'" + Param(key) + "' must be between " + FormatNumber(min) + " and " +
                            FormatNumber(max) + ", got " + FormatNumber(v),
                        Param(key)));
    return;
  }
  *out = v;
}

void Fields::Integer(std::string_view key, int64_t min, int64_t max, std::optional<int64_t>* out) {
  const json* value = Get(key);
  if (!ok() || value == nullptr) return;
  int64_t v = 0;
  bool integral = false;
  if (value->is_number_unsigned() && value->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    Fail(InvalidRequest("'" + Param(key) + "' must be between " + std::to_string(min) + " and " +
                            std::to_string(max) + ", got " + value->dump(),
                        Param(key)));
    return;
  }
  if (value->is_number_integer()) {
    integral = true;
    v = value->get<int64_t>();
  } else if (value->is_number_float()) {
    const double d = value->get<double>();
    if (std::isfinite(d) && std::floor(d) == d && d >= -9.2e18 && d <= 9.2e18) {
      integral = true;
      v = static_cast<int64_t>(d);
    }
  }
  if (!integral) {
    Fail(InvalidRequest("'" + Param(key) + "' must be an integer, not " + JsonTypeName(*value),
                        Param(key)));
    return;
  }
  if (v < min || v > max) {
    Fail(InvalidRequest("'" + Param(key) + "' must be between " + std::to_string(min) + " and " +
                            std::to_string(max) + ", got " + value->dump(),
                        Param(key)));
    return;
  }
  *out = v;
}

void Fields::Int(std::string_view key, int min, int max, std::optional<int>* out) {
  std::optional<int64_t> value;
  Integer(key, min, max, &value);
  if (value) *out = static_cast<int>(*value);
}

void Fields::String(std::string_view key, std::string* out) {
  const json* value = Get(key);
  if (!ok() || value == nullptr) return;
  if (!value->is_string()) {
    Fail(InvalidRequest("'" + Param(key) + "' must be a string, not " + JsonTypeName(*value),
                        Param(key)));
    return;
  }
  *out = value->get<std::string>();
}

void Fields::StringOrStrings(std::string_view key, size_t max_items,
                             std::vector<std::string>* out) {
  const json* value = Get(key);
  if (!ok() || value == nullptr) return;
  if (value->is_string()) {
    *out = {value->get<std::string>()};
    return;
  }
  if (!value->is_array()) {
    Fail(InvalidRequest(
        "'" + Param(key) + "' must be a string or an array of strings, not " + JsonTypeName(*value),
        Param(key)));
    return;
  }
  if (value->size() > max_items) {
    Fail(InvalidRequest("'" + Param(key) + "' has " + std::to_string(value->size()) +
                            " entries; at most " + std::to_string(max_items) + " are allowed",
                        Param(key)));
    return;
  }
  std::vector<std::string> items;
  for (size_t i = 0; i < value->size(); ++i) {
    const json& item = (*value)[i];
    if (!item.is_string()) {
      const std::string param = Param(key) + "[" + std::to_string(i) + "]";
      Fail(InvalidRequest("'" + param + "' must be a string, not " + JsonTypeName(item), param));
      return;
    }
    items.push_back(item.get<std::string>());
  }
  *out = std::move(items);
}

std::optional<double> ParseKeepAlive(const json& value) {
  if (value.is_number()) return value.get<double>();
  if (!value.is_string()) return std::nullopt;
  const std::string text = value.get<std::string>();
  if (text.empty()) return std::nullopt;
  // A plain number is seconds.
  size_t used = 0;
  try {
    const double seconds = std::stod(text, &used);
    if (used == text.size()) return seconds;
  } catch (const std::exception&) {
  }
  // A Go duration: [-]{number}{unit}... with units ns us µs ms s m h.
  size_t i = 0;
  double sign = 1;
  if (text[0] == '-' || text[0] == '+') {
    sign = text[0] == '-' ? -1 : 1;
    ++i;
  }
  double total = 0;
  bool any = false;
  while (i < text.size()) {
    const size_t start = i;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    if (i == start) return std::nullopt;
    double number = 0;
    try {
      number = std::stod(text.substr(start, i - start));
    } catch (const std::exception&) {
      return std::nullopt;
    }
    const size_t unit_start = i;
    while (i < text.size() && !((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    const std::string unit = text.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit == "h") {
      scale = 3600;
    } else if (unit == "m") {
      scale = 60;
    } else if (unit == "s") {
      scale = 1;
    } else if (unit == "ms") {
      scale = 1e-3;
    } else if (unit == "us" || unit == "\xC2\xB5s") {
      scale = 1e-6;
    } else if (unit == "ns") {
      scale = 1e-9;
    } else {
      return std::nullopt;
    }
    total += number * scale;
    any = true;
  }
  if (!any) return std::nullopt;
  return sign * total;
}

size_t JsonNesting(std::string_view text) {
  size_t depth = 0;
  size_t deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

Expected<json> ParseJsonBody(std::string_view body) {
  if (JsonNesting(body) > kMaxJsonNesting) {
    return InvalidRequest("the request body is nested more than " +
                          std::to_string(kMaxJsonNesting) + " levels deep");
  }
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) return InvalidRequest("the request body is not valid JSON");
  if (!parsed.is_object()) return InvalidRequest("the request body must be a JSON object");
  return parsed;
}

}  // namespace gemma::protocol
