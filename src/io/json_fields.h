// Typed reads from JSON that came from a file (config.json,
// tokenizer_config.json, a session's metadata). A key of the wrong JSON type
// is a gemma::Error naming the file and the key's path ("rope_scaling.factor"),
// never nlohmann's type_error: user files are input, not trusted data.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace gemma {

// "a string", "a number", "null", "an array"... for messages.
std::string JsonTypeName(const nlohmann::json& value);

// A view of one JSON object inside a file. Every getter returns nullopt when
// the key is absent; a present key of another type throws gemma::Error
// "<origin>: key '<path>' should be <type> but is <type>".
class JsonObject {
 public:
  // How a null value is read: HF configs write null for "not set" on some
  // keys (soft-caps, rope_scaling); elsewhere null is a mistake.
  enum class Null { kIsError, kMeansAbsent };

  // Throws gemma::Error when `json` is not an object. `json` must outlive the
  // view; `path` is this object's key path inside the file ("" at the top).
  JsonObject(const nlohmann::json& json, std::string origin, std::string path = "");

  bool Has(std::string_view key) const;  // present (null counts as present)
  std::optional<std::string> String(std::string_view key, Null null = Null::kIsError) const;
  // Finite numbers only (JSON has no NaN, but huge exponents overflow to inf).
  std::optional<double> Number(std::string_view key, Null null = Null::kIsError) const;
  // A number with no fractional part inside [min, max] (2.0 is accepted, as
  // Python's json writes integral floats that way).
  std::optional<int64_t> Integer(std::string_view key, int64_t min, int64_t max,
                                 Null null = Null::kIsError) const;
  std::optional<bool> Bool(std::string_view key, Null null = Null::kIsError) const;
  std::optional<JsonObject> Object(std::string_view key, Null null = Null::kIsError) const;
  // The array, or nullptr when absent; its elements are the caller's to check
  // (Element() below names them in errors).
  const nlohmann::json* Array(std::string_view key, Null null = Null::kIsError) const;

  // "<path>.<key>", or "<key>" at the top level.
  std::string KeyPath(std::string_view key) const;
  const std::string& origin() const { return origin_; }
  const nlohmann::json& json() const { return *json_; }

  // Throws gemma::Error "<origin>: key '<path>' <what>".
  [[noreturn]] void Fail(std::string_view key, std::string_view what) const;

 private:
  // The value at key, or nullptr when absent (or null and null means absent).
  const nlohmann::json* Find(std::string_view key, Null null, const char* expected) const;

  const nlohmann::json* json_;
  std::string origin_;
  std::string path_;
};

// Element `index` of an array read through `parent.Array(key)`, as an object
// (errors name "key[index]").
JsonObject ArrayElementObject(const JsonObject& parent, std::string_view key, size_t index);

// Element `index` of the array at `key`, as an integer in [min, max] (errors
// name "key[index]").
int64_t ArrayElementInteger(const JsonObject& parent, std::string_view key, size_t index,
                            int64_t min, int64_t max);

// Parses a whole file's text as JSON; throws gemma::Error "<origin>: not valid
// JSON (<where>)" on a syntax error.
nlohmann::json ParseJsonText(std::string_view text, const std::string& origin);

}  // namespace gemma
