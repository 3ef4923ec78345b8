// A subset of ECMA-262 regular expressions (the dialect of JSON Schema's
// "pattern"), compiled to a grammar expression over the characters of a
// string. Supported: literals, ., classes [...] and [^...] with ranges, \d \D
// \w \W \s \S, escapes (\t \n \r \f \v \0 \xHH \uHHHH and escaped
// punctuation), groups (...) (?:...) (?<name>...), alternation |, quantifiers
// * + ? {n} {n,} {n,m} (lazy forms match the same strings), ^ at the start and
// $ at the end. Rejected with a message: backreferences, lookaround, \b \B,
// \p{...}, \cX, anchors elsewhere, and repetition counts above 1000.
//
// JSON Schema patterns are not anchored: without ^ a match may start
// anywhere in the string, without $ it may end anywhere, so the expression
// then allows any characters before or after.
#pragma once

#include <string_view>

#include "server/constrain/char_set.h"
#include "server/constrain/grammar.h"

namespace gemma::constrain {

// Throws CompileError naming the pattern and the unsupported construct.
GrammarBuilder::Expr CompileRegex(GrammarBuilder& b, std::string_view pattern,
                                  StringEncoding encoding);

}  // namespace gemma::constrain
