// Sets of Unicode code points and their encodings as byte-level grammar
// expressions: raw UTF-8 (tool-call syntaxes, where strings are delimited by
// a token) or the inside of a JSON string (quote, backslash and control
// characters escaped).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "server/constrain/grammar.h"

namespace gemma::constrain {

inline constexpr uint32_t kMaxCodePoint = 0x10FFFF;

// Sorted, non-overlapping, non-adjacent closed ranges of code points; never
// contains surrogates (U+D800..U+DFFF), which UTF-8 cannot carry.
class CharSet {
 public:
  CharSet() = default;
  static CharSet Range(uint32_t lo, uint32_t hi);
  static CharSet Single(uint32_t c) { return Range(c, c); }
  static CharSet All() { return Range(0, kMaxCodePoint); }

  CharSet& Add(uint32_t lo, uint32_t hi);
  CharSet& Add(const CharSet& other);
  CharSet Complement() const;
  CharSet Minus(const CharSet& other) const { return Intersect(other.Complement()); }
  CharSet Intersect(const CharSet& other) const;
  bool Contains(uint32_t c) const;
  bool empty() const { return ranges_.empty(); }
  const std::vector<std::pair<uint32_t, uint32_t>>& ranges() const { return ranges_; }

 private:
  std::vector<std::pair<uint32_t, uint32_t>> ranges_;
};

enum class StringEncoding {
  kRawUtf8,     // every code point as its UTF-8 bytes
  kJsonString,  // inside "...": " and \ escaped, U+0000..U+001F as \b \f \n \r \t or \u00xx
};

// An expression matching one character of `set`, as bytes.
GrammarBuilder::Expr EncodeCharSet(GrammarBuilder& b, const CharSet& set, StringEncoding enc);

// One character of any JSON string, with every escape form JSON allows
// (\" \\ \/ \b \f \n \r \t, \uXXXX for a non-surrogate, a \uD8xx\uDCxx pair).
GrammarBuilder::Expr JsonStringChar(GrammarBuilder& b);

// Appends the UTF-8 encoding of c.
void AppendUtf8(uint32_t c, std::string* out);

}  // namespace gemma::constrain
