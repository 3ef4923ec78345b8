// Status and Result<T>: how every public libgemma call reports failure. Bad
// input (malformed files, unknown architectures, invalid requests) comes back
// as a Status with a message naming the file and the key or tensor at fault,
// and a code that says what kind of failure it is (a server maps it to an HTTP
// status: see StatusCode).
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace gemma {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // bad input: a malformed file, an unknown type, a bad flag (HTTP 400)
  kNotFound,           // a file or a named thing that does not exist (404)
  kOutOfRange,         // does not fit: a prompt longer than the context (400)
  kResourceExhausted,  // out of memory, KV or queue full: retry later or ask for less (503)
  kCancelled,          // stopped by the caller
  kUnavailable,        // shutting down (503)
  kUnimplemented,      // valid, but not supported by this engine (400)
  kInternal,           // a bug: an invariant broke (500)
};

// "invalid argument", "not found", ...
const char* StatusCodeName(StatusCode code);

class Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  // An invalid-argument error (the common case: bad input). An error about
  // one field of a request starts with the field's name and ": "
  // ("logit_bias: token 7 is outside the vocabulary"): servers map it to
  // the field.
  static Status Error(std::string message) {
    return Status(StatusCode::kInvalidArgument, std::move(message));
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const {
    static const std::string kOk = "OK";
    return ok() ? kOk : message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace gemma
