// Typed, range-checked reading of request fields, for the request parsers.
// The first problem found is kept as a 400 that names the field; later reads
// are no-ops. null counts as absent (clients send null for "not set").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/protocol/api_error.h"

namespace gemma::protocol {

class Fields {
 public:
  // `prefix` is prepended to field names in error params ("options.").
  Fields(const nlohmann::json& object, std::string prefix = {})
      : object_(object), prefix_(std::move(prefix)) {}

  // The value of `key`, or nullptr when absent or null.
  const nlohmann::json* Get(std::string_view key) const;
  std::string Param(std::string_view key) const { return prefix_ + std::string(key); }

  void Bool(std::string_view key, std::optional<bool>* out);
  void Bool(std::string_view key, bool* out);
  void Number(std::string_view key, double min, double max, std::optional<double>* out);
  // An integer (an integral JSON number, 3 or 3.0) in [min, max].
  void Integer(std::string_view key, int64_t min, int64_t max, std::optional<int64_t>* out);
  void Int(std::string_view key, int min, int max, std::optional<int>* out);
  void String(std::string_view key, std::string* out);
  // A string or an array of strings (OpenAI's "stop"), at most max_items.
  void StringOrStrings(std::string_view key, size_t max_items, std::vector<std::string>* out);
  // The field must be present (and not null).
  const nlohmann::json* Require(std::string_view key);

  void Fail(ApiError error);
  bool ok() const { return !error_.has_value(); }
  const ApiError& error() const { return *error_; }

 private:
  const nlohmann::json& object_;
  std::string prefix_;
  std::optional<ApiError> error_;
};

// "number", "string", ... for error messages.
const char* JsonTypeName(const nlohmann::json& value);

// Ollama's keep_alive: seconds as a number, or a Go duration string ("5m",
// "1h30m", "300ms", "-1"); negative means forever.
std::optional<double> ParseKeepAlive(const nlohmann::json& value);

// The deepest nesting of arrays/objects in JSON text (a lexical scan, so it
// also bounds text that is not valid JSON). Recursive code over client JSON
// (rendering, tool schemas) relies on bodies being no deeper than
// kMaxJsonNesting.
size_t JsonNesting(std::string_view text);
inline constexpr size_t kMaxJsonNesting = 64;

// The request body: a JSON object, no deeper than kMaxJsonNesting, else 400.
Expected<nlohmann::json> ParseJsonBody(std::string_view body);

}  // namespace gemma::protocol
