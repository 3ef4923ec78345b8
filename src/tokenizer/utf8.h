// UTF-8 helpers for the tokenizer: splitting text into code points (invalid
// bytes become one-byte symbols so that byte fallback can encode them) and
// turning arbitrary bytes into valid UTF-8 with U+FFFD substitution.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gemma::utf8 {

// Length of the well-formed UTF-8 sequence starting at s[pos] (1..4), or 1 if
// the bytes there are not one (a stray byte is then a symbol of its own).
size_t CharLength(std::string_view s, size_t pos);

// Appends s to *out as valid UTF-8, each maximal ill-formed subsequence
// replaced by U+FFFD (the Unicode "maximal subpart" practice). When `final` is
// false, a well-formed but incomplete sequence at the very end is not
// consumed. Returns the number of bytes of s consumed.
size_t AppendValid(std::string_view s, bool final, std::string* out);

}  // namespace gemma::utf8
