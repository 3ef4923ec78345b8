// Errors of the HTTP API layer, and a minimal value-or-error type for the
// protocol code (which does not depend on the engine's Status).
#pragma once

#include <cassert>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <variant>

namespace gemma::protocol {

// One API error: the HTTP status to answer with and the fields of OpenAI's
// error envelope {"error":{"message","type","param","code"}}. An empty `param`
// or `code` is rendered as null.
struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;
  std::string code;

  // {"error":{"message":...,"type":...,"param":...|null,"code":...|null}}
  nlohmann::json ToOpenAiJson() const;
  // Ollama's native API answers errors as {"error":"message"}.
  nlohmann::json ToOllamaJson() const;
};

// 400 invalid_request_error naming the offending field (`param`, e.g.
// "messages[2].content").
ApiError InvalidRequest(std::string message, std::string param = {});
// 401 authentication_error.
ApiError AuthenticationError(std::string message);
// 404 not_found_error (unknown model, unknown route).
ApiError NotFoundError(std::string message, std::string param = {});
// 400 exceed_context_size_error, as llama-server reports a prompt that does
// not fit: the message names both numbers.
ApiError ExceedContextSizeError(int prompt_tokens, int context_size);
// 500 server_error.
ApiError ServerError(std::string message);

// A value or an ApiError. Deliberately small: ok(), value(), error().
template <typename T>
class Expected {
 public:
  Expected(T value) : state_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Expected(ApiError error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(state_); }
  const T& value() const& {
    assert(ok());
    return std::get<T>(state_);
  }
  T& value() & {
    assert(ok());
    return std::get<T>(state_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(state_));
  }
  const ApiError& error() const {
    assert(!ok());
    return std::get<ApiError>(state_);
  }

 private:
  std::variant<T, ApiError> state_;
};

// Serialises JSON for the wire. Model output can contain invalid UTF-8 (a
// token that ends inside a character); nlohmann's default dump() throws on
// it, so every response must go through this, which writes U+FFFD instead.
std::string DumpJson(const nlohmann::json& value);

}  // namespace gemma::protocol
