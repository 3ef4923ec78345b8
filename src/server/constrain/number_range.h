// JSON numbers as grammar expressions, with exact decimal bounds: the digits
// are generated left to right, staying "tight" against a bound's digits while
// they are equal (so minimum 0.5 allows 0.5, 0.51, 3 but not 0.49). The
// number of digits is bounded, so a weak model cannot write digits forever.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "server/constrain/grammar.h"

namespace gemma::constrain {

struct NumberLimits {
  int max_integer_digits = 18;   // integer part (fits int64 with its sign)
  int max_fraction_digits = 16;  // after the point
  int max_exponent_digits = 2;   // unbounded numbers only: 1e99 still parses as a double
};

struct NumberBound {
  std::string text;  // a JSON number, e.g. "0.5", "-3", "1e-05"
  bool exclusive = false;
};

// A JSON number (integer: no fraction, no exponent) within the bounds. The
// exponent form is only written when there are no bounds. Throws
// CompileError when the range is empty, a bound is not a number, or no
// number within the digit limits satisfies the bounds.
GrammarBuilder::Expr NumberExpr(GrammarBuilder& b, const std::optional<NumberBound>& lo,
                                const std::optional<NumberBound>& hi, bool integer,
                                const NumberLimits& limits);

}  // namespace gemma::constrain
