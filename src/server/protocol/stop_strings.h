// Stop strings ("stop" in OpenAI requests, options.stop in Ollama's):
// generated text is cut at the first occurrence of any of them, the stop
// string itself excluded, across piece boundaries. Text that may still be the
// beginning of a stop string is held back, and so is an incomplete UTF-8
// character at the end of a piece, so every released piece ends on a
// character boundary.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gemma::protocol {

class StopStringMatcher {
 public:
  // Empty strings are ignored.
  explicit StopStringMatcher(std::vector<std::string> stops);

  // The text that can be released now. Once a stop string matched, this is
  // the text before it, stopped() turns true and later pushes release
  // nothing.
  std::string Push(std::string_view piece);
  // The generation ended without a match: releases the held text.
  std::string Finish();

  bool stopped() const { return stopped_; }
  // The stop string that matched (empty until one did).
  const std::string& matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  size_t longest_ = 0;
  std::string held_;
  bool stopped_ = false;
  std::string matched_;
};

// The number of bytes at the end of `text` that begin a UTF-8 character
// whose remaining bytes have not arrived yet (0 when it ends on a character
// boundary or with bytes that are not UTF-8 at all).
size_t IncompleteUtf8Tail(std::string_view text);

}  // namespace gemma::protocol
