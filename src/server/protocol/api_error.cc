#include "server/protocol/api_error.h"

namespace gemma::protocol {

namespace {

nlohmann::json NullIfEmpty(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

ApiError MakeError(int status, std::string message, std::string type, std::string param = {},
                   std::string code = {}) {
  ApiError error;
  error.http_status = status;
  error.message = std::move(message);
  error.type = std::move(type);
  error.param = std::move(param);
  error.code = std::move(code);
  return error;
}

}  // namespace

nlohmann::json ApiError::ToOpenAiJson() const {
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", NullIfEmpty(param)},
            {"code", NullIfEmpty(code)}}}};
}

nlohmann::json ApiError::ToOllamaJson() const { return {{"error", message}}; }

ApiError InvalidRequest(std::string message, std::string param) {
  return MakeError(400, std::move(message), "invalid_request_error", std::move(param));
}

ApiError AuthenticationError(std::string message) {
  return MakeError(401, std::move(message), "authentication_error", {}, "invalid_api_key");
}

ApiError NotFoundError(std::string message, std::string param) {
  return MakeError(404, std::move(message), "not_found_error", std::move(param));
}

ApiError ExceedContextSizeError(int prompt_tokens, int context_size) {
  return MakeError(400,
                   "the request exceeds the available context size: the prompt has " +
                       std::to_string(prompt_tokens) + " tokens and the context holds " +
                       std::to_string(context_size),
                   "exceed_context_size_error", "messages", "context_length_exceeded");
}

ApiError ServerError(std::string message) {
  return MakeError(500, std::move(message), "server_error");
}

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace gemma::protocol
