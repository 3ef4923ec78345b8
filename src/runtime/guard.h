// The public API's boundary: internal code throws gemma::Error (or the
// standard library throws); these turn whatever was thrown into a Status, so
// no exception ever leaves libgemma.
#pragma once

#include <string>

#include "gemma/status.h"

namespace gemma {

// The Status for the exception being handled; call only inside a catch block.
// `context` (e.g. a path) prefixes messages that lack one.
Status StatusFromCurrentException(const std::string& context = "");

// Runs fn() and returns its Status, or the Status of what it threw.
template <typename Fn>
Status Guarded(const Fn& fn, const std::string& context = "") {
  try {
    return fn();
  } catch (...) {
    return StatusFromCurrentException(context);
  }
}

}  // namespace gemma
