// Error type used inside libgemma. Internal code throws gemma::Error with a
// message that names the file and the tensor or key at fault; the public API
// (include/gemma/) catches it and returns a Status, so callers never see a
// crash on bad input.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "gemma/status.h"

namespace gemma {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, StatusCode code = StatusCode::kInvalidArgument)
      : std::runtime_error(message), code_(code) {}
  StatusCode code() const { return code_; }

 private:
  StatusCode code_;
};

inline std::string ToText(const std::string& s) { return s; }
inline std::string ToText(std::string_view s) { return std::string(s); }
inline std::string ToText(const char* s) { return s; }
inline std::string ToText(char c) { return std::string(1, c); }
template <typename T>
requires std::is_arithmetic_v<T> std::string ToText(T value) { return std::to_string(value); }

template <typename... Args>
std::string Concat(const Args&... args) {
  std::string message;
  (message.append(ToText(args)), ...);
  return message;
}

// Throws an (invalid-argument) Error whose message is the concatenation of the
// arguments: Fail("file ", path, ": bad magic").
template <typename... Args>
[[noreturn]] void Fail(const Args&... args) {
  throw Error(Concat(args...));
}

// The same with another code: FailWith(StatusCode::kNotFound, path, ": no such file").
template <typename... Args>
[[noreturn]] void FailWith(StatusCode code, const Args&... args) {
  throw Error(Concat(args...), code);
}

}  // namespace gemma
