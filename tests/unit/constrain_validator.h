// A small JSON Schema validator for the keywords the constrained decoder
// supports, written independently of it: it walks a parsed nlohmann::json
// instance (the grammar never sees one), checks patterns with std::regex and
// formats with procedural parsers. Tests use it to check that whatever a
// random walk through the grammar produced is valid.
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

namespace gemma::constrain::test_util {

class SchemaValidator {
 public:
  using Json = nlohmann::json;
  explicit SchemaValidator(Json root) : root_(std::move(root)) {}

  // True when `x` is valid; otherwise *why says where and why not.
  bool Validate(const Json& x, std::string* why) const { return Check(root_, x, "$", why); }

 private:
  static int64_t CodePoints(const std::string& s) {
    int64_t n = 0;
    for (const char c : s) n += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
    return n;
  }
  static bool IsInteger(const Json& x) {
    if (x.is_number_integer()) return true;
    return x.is_number_float() && std::isfinite(x.get<double>()) &&
           x.get<double>() == std::floor(x.get<double>());
  }
  static bool TypeMatches(const std::string& t, const Json& x) {
    if (t == "null") return x.is_null();
    if (t == "boolean") return x.is_boolean();
    if (t == "string") return x.is_string();
    if (t == "array") return x.is_array();
    if (t == "object") return x.is_object();
    if (t == "number") return x.is_number();
    if (t == "integer") return IsInteger(x);
    return false;
  }
  static bool Digits(const std::string& s, size_t pos, size_t n, int* value) {
    if (pos + n > s.size()) return false;
    *value = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      *value = *value * 10 + (s[i] - '0');
    }
    return true;
  }
  static bool ValidDate(const std::string& s) {
    int y, m, d;
    if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
    if (!Digits(s, 0, 4, &y) || !Digits(s, 5, 2, &m) || !Digits(s, 8, 2, &d)) return false;
    static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1) return false;
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= kDays[m - 1] + (m == 2 && leap ? 1 : 0);
  }
  static bool ValidTime(const std::string& s) {
    int h, mi, se;
    if (s.size() < 9 || s[2] != ':' || s[5] != ':') return false;
    if (!Digits(s, 0, 2, &h) || !Digits(s, 3, 2, &mi) || !Digits(s, 6, 2, &se)) return false;
    if (h > 23 || mi > 59 || se > 59) return false;
    size_t i = 8;
    if (i < s.size() && s[i] == '.') {
      const size_t start = ++i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
      if (i == start) return false;
    }
    if (i < s.size() && s[i] == 'Z') return i + 1 == s.size();
    int oh, om;
    return i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
           Digits(s, i + 1, 2, &oh) && Digits(s, i + 4, 2, &om) && oh <= 23 && om <= 59;
  }
  static bool ValidFormat(const std::string& format, const std::string& s) {
    if (format == "date") return ValidDate(s);
    if (format == "time") return ValidTime(s);
    if (format == "date-time") {
      return s.size() > 11 && s[10] == 'T' && ValidDate(s.substr(0, 10)) && ValidTime(s.substr(11));
    }
    if (format == "uuid") {
      if (s.size() != 36) return false;
      for (size_t i = 0; i < 36; ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash != (s[i] == '-')) return false;
        if (!dash && !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
      }
      return true;
    }
    if (format == "ipv4") {
      int parts = 0;
      size_t i = 0;
      while (true) {
        const size_t start = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        const size_t len = i - start;
        if (len == 0 || len > 3 || (len > 1 && s[start] == '0')) return false;
        if (std::stoi(s.substr(start, len)) > 255) return false;
        ++parts;
        if (i == s.size()) return parts == 4;
        if (s[i] != '.' || parts == 4) return false;
        ++i;
      }
    }
    if (format == "email") {
      const size_t at = s.find('@');
      if (at == std::string::npos || s.find('@', at + 1) != std::string::npos) return false;
      auto atoms = [](const std::string& part, bool domain) {
        if (part.empty() || part.front() == '.' || part.back() == '.' ||
            part.find("..") != std::string::npos) {
          return false;
        }
        size_t labels = 1;
        for (size_t i = 0; i < part.size(); ++i) {
          const char c = part[i];
          if (c == '.') {
            ++labels;
            if (domain && (part[i - 1] == '-' || part[i + 1] == '-')) return false;
          } else if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' &&
                     (domain || (c != '_' && c != '%' && c != '+'))) {
            return false;
          }
        }
        return !domain || (labels >= 2 && part.front() != '-' && part.back() != '-');
      };
      return atoms(s.substr(0, at), false) && atoms(s.substr(at + 1), true);
    }
    return false;
  }

  bool Fail(const std::string& path, const std::string& what, std::string* why) const {
    *why = path + ": " + what;
    return false;
  }

  bool Check(const Json& s, const Json& x, const std::string& path, std::string* why) const {
    if (s.is_boolean()) return s.get<bool>() || Fail(path, "schema false", why);
    if (s.contains("$ref")) {
      const std::string ref = s["$ref"];
      const Json& target = ref == "#" ? root_ : root_.at(Json::json_pointer(ref.substr(1)));
      if (!Check(target, x, path, why)) return false;
    }
    if (s.contains("type")) {
      const Json types = s["type"].is_array() ? s["type"] : Json::array({s["type"]});
      bool ok = s.value("nullable", false) && x.is_null();
      for (const Json& t : types) ok = ok || TypeMatches(t.get<std::string>(), x);
      if (!ok) return Fail(path, "type " + s["type"].dump() + " vs " + x.dump(), why);
    }
    if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), x) == s["enum"].end()) {
      return Fail(path, "not in enum: " + x.dump(), why);
    }
    if (s.contains("const") && s["const"] != x) return Fail(path, "not the const: " + x.dump(), why);
    if (x.is_string()) {
      const std::string v = x.get<std::string>();
      if (s.contains("minLength") && CodePoints(v) < s["minLength"].get<int64_t>()) {
        return Fail(path, "shorter than minLength", why);
      }
      if (s.contains("maxLength") && CodePoints(v) > s["maxLength"].get<int64_t>()) {
        return Fail(path, "longer than maxLength", why);
      }
      if (s.contains("pattern") &&
          !std::regex_search(v, std::regex(s["pattern"].get<std::string>(), std::regex::ECMAScript))) {
        return Fail(path, "pattern mismatch: " + v, why);
      }
      if (s.contains("format") && !ValidFormat(s["format"], v)) {
        return Fail(path, "format " + s["format"].get<std::string>() + ": " + v, why);
      }
    }
    if (x.is_number()) {
      const double v = x.get<double>();
      if (s.contains("minimum") && v < s["minimum"].get<double>()) return Fail(path, "below minimum", why);
      if (s.contains("maximum") && v > s["maximum"].get<double>()) return Fail(path, "above maximum", why);
      if (s.contains("exclusiveMinimum") && s["exclusiveMinimum"].is_number() &&
          v <= s["exclusiveMinimum"].get<double>()) {
        return Fail(path, "not above exclusiveMinimum", why);
      }
      if (s.contains("exclusiveMaximum") && s["exclusiveMaximum"].is_number() &&
          v >= s["exclusiveMaximum"].get<double>()) {
        return Fail(path, "not below exclusiveMaximum", why);
      }
    }
    if (x.is_object()) {
      const Json props = s.value("properties", Json::object());
      for (const auto& [k, v] : x.items()) {
        if (props.contains(k)) {
          if (!Check(props[k], v, path + "." + k, why)) return false;
        } else if (s.contains("additionalProperties")) {
          if (!Check(s["additionalProperties"], v, path + "." + k, why)) return false;
        }
      }
      for (const Json& k : s.value("required", Json::array())) {
        if (!x.contains(k.get<std::string>())) return Fail(path, "missing " + k.dump(), why);
      }
    }
    if (x.is_array()) {
      const int64_t n = static_cast<int64_t>(x.size());
      if (s.contains("minItems") && n < s["minItems"].get<int64_t>()) return Fail(path, "minItems", why);
      if (s.contains("maxItems") && n > s["maxItems"].get<int64_t>()) return Fail(path, "maxItems", why);
      Json prefix = s.value("prefixItems", Json::array());
      Json rest = s.value("items", Json(true));
      if (s.contains("items") && s["items"].is_array()) {
        prefix = s["items"];
        rest = s.value("additionalItems", Json(true));
      }
      for (int64_t i = 0; i < n; ++i) {
        const Json& item_schema = i < static_cast<int64_t>(prefix.size()) ? prefix[i] : rest;
        if (!Check(item_schema, x[i], path + "[" + std::to_string(i) + "]", why)) return false;
      }
    }
    for (const Json& sub : s.value("allOf", Json::array())) {
      if (!Check(sub, x, path, why)) return false;
    }
    if (s.contains("anyOf")) {
      std::string ignored;
      bool any = false;
      for (const Json& sub : s["anyOf"]) any = any || Check(sub, x, path, &ignored);
      if (!any) return Fail(path, "no anyOf branch matches", why);
    }
    if (s.contains("oneOf")) {
      std::string ignored;
      int matches = 0;
      for (const Json& sub : s["oneOf"]) matches += Check(sub, x, path, &ignored);
      if (matches != 1) return Fail(path, std::to_string(matches) + " oneOf branches match", why);
    }
    return true;
  }

  Json root_;
};

}  // namespace gemma::constrain::test_util
