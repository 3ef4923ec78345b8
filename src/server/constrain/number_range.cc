#include "server/constrain/number_range.h"

#include <algorithm>
#include <vector>

namespace gemma::constrain {
namespace {

using Expr = GrammarBuilder::Expr;

// An exact decimal: sign, integer digits without leading zeros ("" for zero),
// fraction digits without trailing zeros.
struct Decimal {
  bool negative = false;
  std::string int_digits;
  std::string frac_digits;
  bool IsZero() const { return int_digits.empty() && frac_digits.empty(); }
};

Decimal ParseDecimal(const std::string& text) {
  size_t i = 0;
  Decimal d;
  auto fail = [&]() -> Decimal { throw CompileError("\"" + text + "\" is not a number"); };
  if (i < text.size() && text[i] == '-') {
    d.negative = true;
    ++i;
  }
  std::string digits;  // all mantissa digits
  int64_t point = -1;  // digits before the decimal point
  for (; i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.'); ++i) {
    if (text[i] == '.') {
      if (point >= 0) return fail();
      point = static_cast<int64_t>(digits.size());
    } else {
      digits.push_back(text[i]);
    }
  }
  if (digits.empty()) return fail();
  if (point < 0) point = static_cast<int64_t>(digits.size());
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool neg = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) neg = text[i++] == '-';
    int64_t e = 0;
    const size_t start = i;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      e = std::min<int64_t>(e * 10 + (text[i] - '0'), 100000);
    }
    if (i == start) return fail();
    point += neg ? -e : e;
  }
  if (i != text.size()) return fail();
  // Place the point: pad with zeros on either side as needed.
  if (point < 0) {
    digits.insert(0, static_cast<size_t>(-point), '0');
    point = 0;
  }
  if (point > static_cast<int64_t>(digits.size())) digits.append(point - digits.size(), '0');
  d.int_digits = digits.substr(0, point);
  d.frac_digits = digits.substr(point);
  d.int_digits.erase(0, d.int_digits.find_first_not_of('0') == std::string::npos
                            ? d.int_digits.size()
                            : d.int_digits.find_first_not_of('0'));
  while (!d.frac_digits.empty() && d.frac_digits.back() == '0') d.frac_digits.pop_back();
  if (d.IsZero()) d.negative = false;
  return d;
}

int CompareMagnitude(const Decimal& a, const Decimal& b) {
  if (a.int_digits.size() != b.int_digits.size()) {
    return a.int_digits.size() < b.int_digits.size() ? -1 : 1;
  }
  if (const int c = a.int_digits.compare(b.int_digits)) return c < 0 ? -1 : 1;
  const int c = a.frac_digits.compare(b.frac_digits);  // no trailing zeros: lexicographic works
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

int Compare(const Decimal& a, const Decimal& b) {
  if (a.negative != b.negative) return a.negative ? -1 : 1;
  const int m = CompareMagnitude(a, b);
  return a.negative ? -m : m;
}

struct MagnitudeBound {
  Decimal value;  // non-negative
  bool exclusive = false;
};

// Digits of one magnitude range [lo, hi] (hi absent: as many digits as allowed).
class MagnitudeBuilder {
 public:
  MagnitudeBuilder(GrammarBuilder& b, const MagnitudeBound& lo,
                   const std::optional<MagnitudeBound>& hi, bool integer,
                   const NumberLimits& limits)
      : b_(b), lo_(lo), hi_(hi), integer_(integer), limits_(limits) {}

  Expr Build() {
    const int len_lo = std::max<int>(1, static_cast<int>(lo_.value.int_digits.size()));
    int len_hi = limits_.max_integer_digits;
    if (hi_ && static_cast<int>(hi_->value.int_digits.size()) <= limits_.max_integer_digits) {
      len_hi = std::max<int>(1, static_cast<int>(hi_->value.int_digits.size()));
      hi_int_ = Padded(hi_->value.int_digits);
    } else {
      hi_.reset();  // beyond the digit limit: no effective upper bound
    }
    lo_int_ = Padded(lo_.value.int_digits);
    std::vector<Expr> options;
    for (int len = len_lo; len <= len_hi; ++len) {
      options.push_back(IntDigits(len, 0, len == len_lo, hi_ && len == len_hi));
    }
    return b_.Alt(std::move(options));
  }

 private:
  static std::string Padded(const std::string& digits) { return digits.empty() ? "0" : digits; }
  Expr Digit(int lo, int hi) { return b_.Bytes(static_cast<uint8_t>('0' + lo), static_cast<uint8_t>('0' + hi)); }
  Expr AnyDigits(int n) { return b_.Repeat(Digit(0, 9), n, n); }

  // The integer part of `len` digits from `pos`, the digits so far equal to
  // the lower bound's (tlo) and/or the upper bound's (thi).
  Expr IntDigits(int len, int pos, bool tlo, bool thi) {
    if (pos == len) return Fraction(0, tlo, thi);
    const int first = (pos == 0 && len > 1) ? 1 : 0;
    const int dlo = tlo ? lo_int_[pos] - '0' : first;
    const int dhi = thi ? hi_int_[pos] - '0' : 9;
    std::vector<Expr> options;
    if (tlo && thi && dlo == dhi) return b_.Seq({Digit(dlo, dlo), IntDigits(len, pos + 1, true, true)});
    int free_lo = std::max(first, dlo), free_hi = dhi;
    if (tlo) {
      options.push_back(b_.Seq({Digit(dlo, dlo), IntDigits(len, pos + 1, true, false)}));
      free_lo = dlo + 1;
    }
    if (thi) {
      options.push_back(b_.Seq({Digit(dhi, dhi), IntDigits(len, pos + 1, false, true)}));
      free_hi = dhi - 1;
    }
    if (free_lo <= free_hi) {
      options.push_back(b_.Seq({Digit(free_lo, free_hi), AnyDigits(len - pos - 1), Fraction(0, false, false)}));
    }
    return b_.Alt(std::move(options));
  }

  // Fraction digits from `pos` (0: before the point), tight as above.
  Expr Fraction(int pos, bool tlo, bool thi) {
    const std::string& fa = lo_.value.frac_digits;
    const std::string empty;
    const std::string& fb = hi_ ? hi_->value.frac_digits : empty;
    const int max_digits = integer_ ? 0 : limits_.max_fraction_digits;
    if (!tlo && !thi) {
      if (pos == 0) {
        if (max_digits == 0) return b_.Empty();
        return b_.Optional(b_.Seq({b_.Byte('.'), b_.Repeat(Digit(0, 9), 1, max_digits)}));
      }
      return b_.Repeat(Digit(0, 9), 0, max_digits - pos);
    }
    // Stopping here means the remaining fraction digits are zeros.
    bool can_stop = true;
    if (tlo) {
      const bool equal = pos >= static_cast<int>(fa.size());
      if (!equal || lo_.exclusive) can_stop = false;
    }
    if (thi && pos >= static_cast<int>(fb.size()) && hi_->exclusive) can_stop = false;
    const Expr stop = can_stop ? b_.Empty() : b_.Nothing();
    if (pos >= max_digits) return stop;
    const int dlo = tlo ? (pos < static_cast<int>(fa.size()) ? fa[pos] - '0' : 0) : 0;
    const int dhi = thi ? (pos < static_cast<int>(fb.size()) ? fb[pos] - '0' : 0) : 9;
    std::vector<Expr> digits;
    if (tlo && thi && dlo == dhi) {
      digits.push_back(b_.Seq({Digit(dlo, dlo), Fraction(pos + 1, true, true)}));
    } else {
      int free_lo = dlo, free_hi = dhi;
      if (tlo) {
        digits.push_back(b_.Seq({Digit(dlo, dlo), Fraction(pos + 1, true, false)}));
        free_lo = dlo + 1;
      }
      if (thi) {
        digits.push_back(b_.Seq({Digit(dhi, dhi), Fraction(pos + 1, false, true)}));
        free_hi = dhi - 1;
      }
      if (free_lo <= free_hi) {
        digits.push_back(b_.Seq({Digit(free_lo, free_hi), Fraction(pos + 1, false, false)}));
      }
    }
    const Expr more = b_.Alt(std::move(digits));
    if (pos == 0) return b_.Alt({stop, b_.Seq({b_.Byte('.'), more})});
    return b_.Alt({stop, more});
  }

  GrammarBuilder& b_;
  MagnitudeBound lo_;
  std::optional<MagnitudeBound> hi_;
  bool integer_;
  const NumberLimits& limits_;
  std::string lo_int_, hi_int_;
};

}  // namespace

Expr NumberExpr(GrammarBuilder& b, const std::optional<NumberBound>& lo,
                const std::optional<NumberBound>& hi, bool integer, const NumberLimits& limits) {
  std::optional<Decimal> dlo, dhi;
  if (lo) dlo = ParseDecimal(lo->text);
  if (hi) dhi = ParseDecimal(hi->text);
  if (dlo && dhi) {
    const int c = Compare(*dlo, *dhi);
    if (c > 0 || (c == 0 && (lo->exclusive || hi->exclusive))) {
      throw CompileError("minimum " + lo->text + " is above maximum " + hi->text +
                         ": no number satisfies both");
    }
  }
  std::vector<Expr> options;
  // Negative numbers: "-" and a magnitude m > 0 with -m in [lo, hi].
  if (!dlo || dlo->negative) {
    MagnitudeBound mag_lo{Decimal{}, true};  // m > 0: never "-0"
    if (dhi && dhi->negative) mag_lo = {Decimal{false, dhi->int_digits, dhi->frac_digits}, hi->exclusive};
    std::optional<MagnitudeBound> mag_hi;
    if (dlo) mag_hi = MagnitudeBound{Decimal{false, dlo->int_digits, dlo->frac_digits}, lo->exclusive};
    options.push_back(b.Seq({b.Byte('-'), MagnitudeBuilder(b, mag_lo, mag_hi, integer, limits).Build()}));
  }
  // Zero and positive numbers.
  if (!dhi || !dhi->negative) {
    MagnitudeBound mag_lo{Decimal{}, false};
    if (dlo && !dlo->negative) mag_lo = {*dlo, lo->exclusive};
    std::optional<MagnitudeBound> mag_hi;
    if (dhi) mag_hi = MagnitudeBound{*dhi, hi->exclusive};
    if (static_cast<int>(mag_lo.value.int_digits.size()) <= limits.max_integer_digits) {
      options.push_back(MagnitudeBuilder(b, mag_lo, mag_hi, integer, limits).Build());
    }
  }
  Expr number = b.Alt(std::move(options));
  if (!lo && !hi && !integer && limits.max_exponent_digits > 0) {
    number = b.Seq({number, b.Optional(b.Seq({b.Alt({b.Byte('e'), b.Byte('E')}),
                                               b.Optional(b.Alt({b.Byte('+'), b.Byte('-')})),
                                               b.Repeat(b.Bytes('0', '9'), 1,
                                                        limits.max_exponent_digits)}))});
  }
  return number;
}

}  // namespace gemma::constrain
