#include "server/constrain/char_set.h"

#include <algorithm>
#include <string>

namespace gemma::constrain {
namespace {

constexpr uint32_t kSurrogateLo = 0xD800, kSurrogateHi = 0xDFFF;

int Utf8Length(uint32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }

// UTF-8 byte sequences for [lo, hi] (same encoded length): split until every
// byte position past the first spans whole continuation ranges, then each
// piece is one sequence of byte ranges.
void Utf8Sequences(uint32_t lo, uint32_t hi, GrammarBuilder& b,
                   std::vector<GrammarBuilder::Expr>* out) {
  const int n = Utf8Length(lo);
  for (int i = 1; i < n; ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;  // the low i continuation bytes
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        Utf8Sequences(lo, lo | m, b, out);
        Utf8Sequences((lo | m) + 1, hi, b, out);
        return;
      }
      if ((hi & m) != m) {
        Utf8Sequences(lo, (hi & ~m) - 1, b, out);
        Utf8Sequences(hi & ~m, hi, b, out);
        return;
      }
    }
  }
  std::string a, z;
  AppendUtf8(lo, &a);
  AppendUtf8(hi, &z);
  std::vector<GrammarBuilder::Expr> seq;
  for (size_t k = 0; k < a.size(); ++k) {
    seq.push_back(b.Bytes(static_cast<uint8_t>(a[k]), static_cast<uint8_t>(z[k])));
  }
  out->push_back(b.Seq(std::move(seq)));
}

void Utf8Range(uint32_t lo, uint32_t hi, GrammarBuilder& b,
               std::vector<GrammarBuilder::Expr>* out) {
  static constexpr uint32_t kLengthEnds[] = {0x7F, 0x7FF, 0xFFFF, kMaxCodePoint};
  for (const uint32_t end : kLengthEnds) {
    if (lo > hi) return;
    if (lo <= end) {
      const uint32_t piece_hi = std::min(hi, end);
      Utf8Sequences(lo, piece_hi, b, out);
      lo = piece_hi + 1;
    }
  }
}

const char* ShortEscape(uint32_t c) {
  switch (c) {
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    case '"': return "\\\"";
    case '\\': return "\\\\";
    default: return nullptr;
  }
}

}  // namespace

void AppendUtf8(uint32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

CharSet CharSet::Range(uint32_t lo, uint32_t hi) {
  CharSet s;
  s.Add(lo, hi);
  return s;
}

CharSet& CharSet::Add(uint32_t lo, uint32_t hi) {
  hi = std::min(hi, kMaxCodePoint);
  if (lo > hi) return *this;
  // Surrogates are not characters.
  if (lo <= kSurrogateHi && hi >= kSurrogateLo) {
    if (lo < kSurrogateLo) Add(lo, kSurrogateLo - 1);
    if (hi > kSurrogateHi) Add(kSurrogateHi + 1, hi);
    return *this;
  }
  ranges_.emplace_back(lo, hi);
  std::sort(ranges_.begin(), ranges_.end());
  std::vector<std::pair<uint32_t, uint32_t>> merged;
  for (const auto& r : ranges_) {
    // Adjacent ranges merge too; the surrogate gap keeps D7FF and E000 apart,
    // which is harmless.
    if (!merged.empty() && r.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  ranges_ = std::move(merged);
  return *this;
}

CharSet& CharSet::Add(const CharSet& other) {
  for (const auto& [lo, hi] : other.ranges_) Add(lo, hi);
  return *this;
}

CharSet CharSet::Complement() const {
  CharSet out;
  uint32_t next = 0;
  for (const auto& [lo, hi] : ranges_) {
    if (lo > next) out.Add(next, lo - 1);
    next = hi + 1;
  }
  if (next <= kMaxCodePoint) out.Add(next, kMaxCodePoint);
  return out;
}

CharSet CharSet::Intersect(const CharSet& other) const {
  CharSet out;
  for (const auto& [a, b] : ranges_) {
    for (const auto& [c, d] : other.ranges_) {
      const uint32_t lo = std::max(a, c), hi = std::min(b, d);
      if (lo <= hi) out.Add(lo, hi);
    }
  }
  return out;
}

bool CharSet::Contains(uint32_t c) const {
  for (const auto& [lo, hi] : ranges_) {
    if (c >= lo && c <= hi) return true;
  }
  return false;
}

GrammarBuilder::Expr EncodeCharSet(GrammarBuilder& b, const CharSet& set, StringEncoding enc) {
  std::vector<GrammarBuilder::Expr> options;
  if (enc == StringEncoding::kRawUtf8) {
    for (const auto& [lo, hi] : set.ranges()) Utf8Range(lo, hi, b, &options);
    return b.Alt(std::move(options));
  }
  // JSON: characters that must be escaped get their one canonical escape.
  CharSet escaped = CharSet::Range(0, 0x1F);
  escaped.Add('"', '"').Add('\\', '\\');
  const CharSet must_escape = set.Intersect(escaped);
  const CharSet raw = set.Minus(escaped);
  for (const auto& [lo, hi] : must_escape.ranges()) {
    for (uint32_t c = lo; c <= hi; ++c) {
      if (const char* e = ShortEscape(c)) {
        options.push_back(b.Literal(e));
      } else {
        static const char kHex[] = "0123456789abcdef";
        const std::string hex = std::string("\\u00") + kHex[c >> 4] + kHex[c & 15];
        options.push_back(b.Literal(hex));
      }
    }
  }
  for (const auto& [lo, hi] : raw.ranges()) Utf8Range(lo, hi, b, &options);
  return b.Alt(std::move(options));
}

GrammarBuilder::Expr JsonStringChar(GrammarBuilder& b) {
  CharSet raw = CharSet::All();
  CharSet escaped = CharSet::Range(0, 0x1F);
  escaped.Add('"', '"').Add('\\', '\\');
  const auto hex = b.Alt({b.Bytes('0', '9'), b.Bytes('a', 'f'), b.Bytes('A', 'F')});
  const auto hex_non_d = b.Alt({b.Bytes('0', '9'), b.Bytes('a', 'c'), b.Bytes('e', 'f'),
                                b.Bytes('A', 'C'), b.Bytes('E', 'F')});
  const auto d = b.Alt({b.Byte('d'), b.Byte('D')});
  // \uXXXX outside D800..DFFF.
  const auto bmp = b.Alt({b.Seq({hex_non_d, hex, hex, hex}), b.Seq({d, b.Bytes('0', '7'), hex, hex})});
  const auto high = b.Seq({d, b.Alt({b.Bytes('8', '9'), b.Bytes('a', 'b'), b.Bytes('A', 'B')}), hex, hex});
  const auto low = b.Seq({d, b.Alt({b.Bytes('c', 'f'), b.Bytes('C', 'F')}), hex, hex});
  const auto escape = b.Seq(
      {b.Byte('\\'),
       b.Alt({b.Byte('"'), b.Byte('\\'), b.Byte('/'), b.Byte('b'), b.Byte('f'), b.Byte('n'),
              b.Byte('r'), b.Byte('t'),
              b.Seq({b.Byte('u'), b.Alt({bmp, b.Seq({high, b.Literal("\\u"), low})})})})});
  return b.Alt({EncodeCharSet(b, raw.Minus(escaped), StringEncoding::kRawUtf8), escape});
}

}  // namespace gemma::constrain
