#include "server/constrain/regex.h"

#include <string>
#include <vector>

namespace gemma::constrain {
namespace {

constexpr int32_t kMaxRepeat = 1000;
constexpr int kMaxNesting = 200;

CharSet Digits() { return CharSet::Range('0', '9'); }
CharSet WordChars() {
  CharSet s = CharSet::Range('a', 'z');
  s.Add('A', 'Z').Add('0', '9').Add('_', '_');
  return s;
}
// ECMA-262 WhiteSpace and LineTerminator.
CharSet Spaces() {
  CharSet s = CharSet::Range('\t', '\r');
  s.Add(' ', ' ').Add(0xA0, 0xA0).Add(0x1680, 0x1680).Add(0x2000, 0x200A).Add(0x2028, 0x2029);
  s.Add(0x202F, 0x202F).Add(0x205F, 0x205F).Add(0x3000, 0x3000).Add(0xFEFF, 0xFEFF);
  return s;
}

class Parser {
 public:
  Parser(GrammarBuilder& b, std::string_view pattern, StringEncoding enc)
      : b_(b), pattern_(pattern), enc_(enc) {
    Decode();
  }

  GrammarBuilder::Expr Parse() {
    bool anchored_start = false, anchored_end = false;
    size_t end = chars_.size();
    if (!chars_.empty() && chars_[0] == '^') {
      anchored_start = true;
      pos_ = 1;
    }
    // A final unescaped $ (an even number of backslashes before it).
    if (end > pos_ && chars_[end - 1] == '$') {
      size_t backslashes = 0;
      while (end - 1 - backslashes > pos_ && chars_[end - 2 - backslashes] == '\\') ++backslashes;
      if (backslashes % 2 == 0) {
        anchored_end = true;
        --end;
      }
    }
    end_ = end;
    const auto body = Alternation(0);
    if (pos_ != end_) Fail("unbalanced ')'");
    const auto any = b_.Star(EncodeCharSet(b_, CharSet::All(), enc_));
    return b_.Seq({anchored_start ? b_.Empty() : any, body, anchored_end ? b_.Empty() : any});
  }

 private:
  [[noreturn]] void Fail(const std::string& what) const {
    throw CompileError("pattern \"" + std::string(pattern_) + "\": " + what);
  }

  void Decode() {
    for (size_t i = 0; i < pattern_.size();) {
      const auto c = static_cast<uint8_t>(pattern_[i]);
      int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
      if (n == 0 || i + n > pattern_.size()) Fail("invalid UTF-8");
      uint32_t cp = n == 1 ? c : c & (0x7F >> n);
      for (int k = 1; k < n; ++k) {
        const auto cc = static_cast<uint8_t>(pattern_[i + k]);
        if ((cc & 0xC0) != 0x80) Fail("invalid UTF-8");
        cp = (cp << 6) | (cc & 0x3F);
      }
      if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > kMaxCodePoint) Fail("invalid UTF-8");
      chars_.push_back(cp);
      i += n;
    }
  }

  bool AtEnd() const { return pos_ >= end_; }
  uint32_t Peek() const { return chars_[pos_]; }

  GrammarBuilder::Expr Alternation(int depth) {
    if (depth > kMaxNesting) Fail("groups nested too deeply");
    std::vector<GrammarBuilder::Expr> options = {Concatenation(depth)};
    while (!AtEnd() && Peek() == '|') {
      ++pos_;
      options.push_back(Concatenation(depth));
    }
    return b_.Alt(std::move(options));
  }

  GrammarBuilder::Expr Concatenation(int depth) {
    std::vector<GrammarBuilder::Expr> parts;
    while (!AtEnd() && Peek() != '|' && Peek() != ')') {
      const auto atom = Atom(depth);
      parts.push_back(Quantified(atom));
    }
    return b_.Seq(std::move(parts));
  }

  // Reads digits; false when there are none.
  bool Number(int32_t* value) {
    const size_t start = pos_;
    int64_t v = 0;
    while (!AtEnd() && Peek() >= '0' && Peek() <= '9') {
      v = std::min<int64_t>(v * 10 + (Peek() - '0'), int64_t{1} << 40);
      ++pos_;
    }
    *value = static_cast<int32_t>(std::min<int64_t>(v, INT32_MAX));
    return pos_ > start;
  }

  GrammarBuilder::Expr Quantified(GrammarBuilder::Expr atom) {
    if (AtEnd()) return atom;
    int32_t min = 0, max = 0;
    const uint32_t c = Peek();
    if (c == '*' || c == '+' || c == '?') {
      ++pos_;
      min = c == '+' ? 1 : 0;
      max = c == '?' ? 1 : kUnbounded;
    } else if (c == '{') {
      // {n} {n,} {n,m}; anything else is a literal brace (Annex B).
      const size_t save = pos_;
      ++pos_;
      if (!Number(&min)) {
        pos_ = save;
        return atom;
      }
      max = min;
      if (!AtEnd() && Peek() == ',') {
        ++pos_;
        if (!Number(&max)) max = kUnbounded;
      }
      if (AtEnd() || Peek() != '}') {
        pos_ = save;
        return atom;
      }
      ++pos_;
      if (max < min) Fail("repetition {" + std::to_string(min) + "," + std::to_string(max) + "}");
      if (min > kMaxRepeat || (max != kUnbounded && max > kMaxRepeat)) {
        Fail("repetition counts above " + std::to_string(kMaxRepeat) + " are not supported");
      }
    } else {
      return atom;
    }
    if (!AtEnd() && Peek() == '?') ++pos_;  // lazy: same language
    if (!AtEnd() && (Peek() == '*' || Peek() == '+' || Peek() == '?')) Fail("nothing to repeat");
    return b_.Repeat(atom, min, max);
  }

  GrammarBuilder::Expr Atom(int depth) {
    const uint32_t c = chars_[pos_++];
    switch (c) {
      case '(':
        return Group(depth);
      case '[':
        return Set(ClassBody());
      case '.': {
        CharSet s = CharSet::All();
        return Set(s.Minus(CharSet::Single('\n').Add('\r', '\r').Add(0x2028, 0x2029)));
      }
      case '\\':
        return Escape();
      case '^':
      case '$':
        Fail("anchors (^ $) are supported only at the start and end of the pattern");
      case '*':
      case '+':
      case '?':
        Fail("nothing to repeat");
      case ')':
        Fail("unbalanced ')'");
      default:
        return Set(CharSet::Single(c));
    }
  }

  GrammarBuilder::Expr Group(int depth) {
    if (!AtEnd() && Peek() == '?') {
      ++pos_;
      if (AtEnd()) Fail("unterminated group");
      const uint32_t kind = chars_[pos_++];
      if (kind == ':') {
        // non-capturing group
      } else if (kind == '<' && !AtEnd() && Peek() != '=' && Peek() != '!') {
        while (!AtEnd() && Peek() != '>') ++pos_;  // named group: the name is irrelevant
        if (AtEnd()) Fail("unterminated group name");
        ++pos_;
      } else {
        Fail("lookahead and lookbehind assertions are not supported");
      }
    }
    const auto body = Alternation(depth + 1);
    if (AtEnd() || Peek() != ')') Fail("missing ')'");
    ++pos_;
    return body;
  }

  GrammarBuilder::Expr Set(const CharSet& s) {
    if (s.empty()) return b_.Nothing();
    return EncodeCharSet(b_, s, enc_);
  }

  uint32_t Hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      if (AtEnd()) Fail("incomplete hex escape");
      const uint32_t h = chars_[pos_++];
      int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
              : h >= 'A' && h <= 'F'                              ? h - 'A' + 10
                                                                  : -1;
      if (d < 0) Fail("invalid hex escape");
      v = v * 16 + d;
    }
    return v;
  }

  // One escape after '\': a set (\d, \w ...) or a single character.
  CharSet EscapeSet(bool in_class) {
    if (AtEnd()) Fail("pattern ends with '\\'");
    const uint32_t c = chars_[pos_++];
    switch (c) {
      case 'd': return Digits();
      case 'D': return Digits().Complement();
      case 'w': return WordChars();
      case 'W': return WordChars().Complement();
      case 's': return Spaces();
      case 'S': return Spaces().Complement();
      case 't': return CharSet::Single('\t');
      case 'n': return CharSet::Single('\n');
      case 'r': return CharSet::Single('\r');
      case 'f': return CharSet::Single('\f');
      case 'v': return CharSet::Single('\v');
      case 'x': return CharSet::Single(Hex(2));
      case 'u': {
        uint32_t u = Hex(4);
        // A surrogate pair written as two escapes.
        if (u >= 0xD800 && u <= 0xDBFF && pos_ + 1 < end_ && chars_[pos_] == '\\' &&
            chars_[pos_ + 1] == 'u') {
          pos_ += 2;
          const uint32_t low = Hex(4);
          if (low < 0xDC00 || low > 0xDFFF) Fail("invalid surrogate pair");
          u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
        }
        if (u >= 0xD800 && u <= 0xDFFF) Fail("lone surrogate escape");
        return CharSet::Single(u);
      }
      case '0':
        if (!AtEnd() && Peek() >= '0' && Peek() <= '9') Fail("octal escapes are not supported");
        return CharSet::Single(0);
      case 'b':
        if (in_class) return CharSet::Single('\b');
        Fail("word boundaries (\\b) are not supported");
      case 'B':
        Fail("word boundaries (\\B) are not supported");
      case 'p':
      case 'P':
        Fail("Unicode property escapes (\\p{...}) are not supported");
      case 'c':
        Fail("control escapes (\\c) are not supported");
      case 'k':
        Fail("named backreferences are not supported");
      default:
        if (c >= '1' && c <= '9') Fail("backreferences are not supported");
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
          Fail(std::string("unknown escape \\") + static_cast<char>(c));
        }
        return CharSet::Single(c);  // escaped punctuation stands for itself
    }
  }

  GrammarBuilder::Expr Escape() { return Set(EscapeSet(false)); }

  CharSet ClassBody() {
    bool negate = false;
    if (!AtEnd() && Peek() == '^') {
      negate = true;
      ++pos_;
    }
    CharSet set;
    while (true) {
      if (AtEnd()) Fail("unterminated character class");
      if (Peek() == ']') break;  // "[]" matches nothing, "[^]" anything
      bool single = true;
      const CharSet lo = ClassAtom(&single);
      if (single && pos_ + 1 < end_ && Peek() == '-' && chars_[pos_ + 1] != ']') {
        ++pos_;
        bool single_hi = true;
        const CharSet hi = ClassAtom(&single_hi);
        if (!single_hi) Fail("a class escape cannot end a range");
        const uint32_t a = lo.ranges()[0].first, z = hi.ranges()[0].first;
        if (a > z) Fail("range out of order in character class");
        set.Add(a, z);
      } else {
        set.Add(lo);
      }
    }
    ++pos_;  // ']'
    return negate ? set.Complement() : set;
  }

  CharSet ClassAtom(bool* single) {
    const uint32_t c = chars_[pos_++];
    if (c != '\\') return CharSet::Single(c);
    const CharSet s = EscapeSet(true);
    *single = s.ranges().size() == 1 && s.ranges()[0].first == s.ranges()[0].second;
    return s;
  }

  GrammarBuilder& b_;
  std::string_view pattern_;
  StringEncoding enc_;
  std::vector<uint32_t> chars_;
  size_t pos_ = 0;
  size_t end_ = 0;
};

}  // namespace

GrammarBuilder::Expr CompileRegex(GrammarBuilder& b, std::string_view pattern,
                                  StringEncoding encoding) {
  return Parser(b, pattern, encoding).Parse();
}

}  // namespace gemma::constrain
