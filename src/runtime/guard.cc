#include "runtime/guard.h"

#include <filesystem>
#include <new>
#include <stdexcept>
#include <system_error>

#include "base/error.h"

namespace gemma {

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid argument";
    case StatusCode::kNotFound:
      return "not found";
    case StatusCode::kOutOfRange:
      return "out of range";
    case StatusCode::kResourceExhausted:
      return "resource exhausted";
    case StatusCode::kCancelled:
      return "cancelled";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kUnimplemented:
      return "unimplemented";
    case StatusCode::kInternal:
      return "internal";
  }
  return "unknown";
}

Status StatusFromCurrentException(const std::string& context) {
  const std::string prefix = context.empty() ? "" : context + ": ";
  try {
    throw;
  } catch (const Error& e) {
    return Status(e.code(), e.what());
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kResourceExhausted, prefix + "out of memory");
  } catch (const std::filesystem::filesystem_error& e) {
    const std::errc err = static_cast<std::errc>(e.code().value());
    const StatusCode code = err == std::errc::no_such_file_or_directory
                                ? StatusCode::kNotFound
                                : StatusCode::kInvalidArgument;
    return Status(code, prefix + e.code().message() + " (" + e.path1().string() + ")");
  } catch (const std::system_error& e) {
    // Thread creation failing (too many threads, or no memory for their stacks).
    return Status(StatusCode::kResourceExhausted, prefix + e.what());
  } catch (const std::exception& e) {
    return Status(StatusCode::kInternal, prefix + "internal error: " + e.what());
  } catch (...) {
    return Status(StatusCode::kInternal, prefix + "internal error (unknown exception)");
  }
}

}  // namespace gemma
