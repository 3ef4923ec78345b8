#include "server/protocol/lenient_value.h"

#include <charconv>
#include <optional>
#include <string>

namespace gemma::protocol {

namespace {

using json = nlohmann::json;

constexpr int kMaxDepth = 64;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsIdentifierStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool IsIdentifierChar(char c) {
  return IsIdentifierStart(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

// A number in JSON's grammar (Python's for these purposes): an int64 when
// it is an integer that fits, a double otherwise.
std::optional<json> ParseNumber(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  const size_t digits = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == digits) return std::nullopt;
  bool integer = true;
  if (i < s.size() && s[i] == '.') {
    integer = false;
    const size_t fraction = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == fraction) return std::nullopt;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    integer = false;
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    const size_t exponent = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == exponent) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  if (integer) {
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec == std::errc() && end == s.data() + s.size()) return json(value);
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return json(value);
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void LenientParser::SkipSpace() {
  while (!AtEnd() && IsSpace(text_[pos_])) ++pos_;
}

ParseStatus LenientParser::EndOfBuffer() {
  if (!at_end_) return ParseStatus::kNeedMore;
  repaired_ = true;
  return ParseStatus::kOk;
}

ParseStatus LenientParser::Expect(std::string_view literal) {
  const std::string_view rest = text_.substr(pos_);
  if (rest.substr(0, literal.size()) == literal) {
    pos_ += literal.size();
    return ParseStatus::kOk;
  }
  if (rest.size() < literal.size() && literal.substr(0, rest.size()) == rest) {
    return at_end_ ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
  }
  return ParseStatus::kInvalid;
}

ParseStatus LenientParser::Identifier(std::string* out) {
  if (AtEnd()) return at_end_ ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
  if (!IsIdentifierStart(Peek())) return ParseStatus::kInvalid;
  const size_t start = pos_;
  while (!AtEnd() && IsIdentifierChar(text_[pos_])) ++pos_;
  if (AtEnd() && !at_end_) return ParseStatus::kNeedMore;
  *out = std::string(text_.substr(start, pos_ - start));
  return ParseStatus::kOk;
}

ParseStatus LenientParser::Value(json* out) {
  SkipSpace();
  if (AtEnd()) return at_end_ ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
  const std::string_view marker = dialect_.marker_quote;
  if (!marker.empty() && Peek() == marker.front()) {
    const std::string_view rest = text_.substr(pos_);
    if (rest.substr(0, marker.size()) == marker) {
      std::string s;
      const ParseStatus status = MarkerString(&s);
      if (status == ParseStatus::kOk) *out = std::move(s);
      return status;
    }
    if (rest.size() < marker.size() && marker.substr(0, rest.size()) == rest) {
      return at_end_ ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
    }
    return ParseStatus::kInvalid;
  }
  switch (Peek()) {
    case '{':
    case '[': {
      if (++depth_ > kMaxDepth) return ParseStatus::kInvalid;
      const bool object = Peek() == '{';
      ++pos_;
      const ParseStatus status = object ? Object(out) : Array(out);
      --depth_;
      return status;
    }
    case '"':
    case '\'': {
      std::string s;
      const ParseStatus status = QuotedString(&s);
      if (status == ParseStatus::kOk) *out = std::move(s);
      return status;
    }
    default:
      return Word(out);
  }
}

ParseStatus LenientParser::Object(json* out) {
  json object = json::object();
  for (;;) {
    SkipSpace();
    if (AtEnd()) {
      const ParseStatus status = EndOfBuffer();
      if (status == ParseStatus::kOk) *out = std::move(object);
      return status;
    }
    if (Peek() == '}') {
      ++pos_;
      *out = std::move(object);
      return ParseStatus::kOk;
    }
    std::string key;
    ParseStatus status = Key(&key);
    if (status != ParseStatus::kOk) return status;
    SkipSpace();
    if (AtEnd()) return at_end_ ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
    if (Peek() != ':') return ParseStatus::kInvalid;
    ++pos_;
    json value;
    status = Value(&value);
    if (status != ParseStatus::kOk) return status;
    object[key] = std::move(value);
    SkipSpace();
    if (AtEnd()) {
      status = EndOfBuffer();
      if (status == ParseStatus::kOk) *out = std::move(object);
      return status;
    }
    if (Peek() == ',') {
      ++pos_;
    } else if (Peek() != '}') {
      return ParseStatus::kInvalid;
    }
  }
}

ParseStatus LenientParser::Array(json* out) {
  json array = json::array();
  for (;;) {
    SkipSpace();
    if (AtEnd()) {
      const ParseStatus status = EndOfBuffer();
      if (status == ParseStatus::kOk) *out = std::move(array);
      return status;
    }
    if (Peek() == ']') {
      ++pos_;
      *out = std::move(array);
      return ParseStatus::kOk;
    }
    json value;
    ParseStatus status = Value(&value);
    if (status != ParseStatus::kOk) return status;
    array.push_back(std::move(value));
    SkipSpace();
    if (AtEnd()) {
      status = EndOfBuffer();
      if (status == ParseStatus::kOk) *out = std::move(array);
      return status;
    }
    if (Peek() == ',') {
      ++pos_;
    } else if (Peek() != ']') {
      return ParseStatus::kInvalid;
    }
  }
}

ParseStatus LenientParser::Key(std::string* out) {
  const char c = Peek();
  const std::string_view marker = dialect_.marker_quote;
  if (c == '"' || c == '\'') return QuotedString(out);
  if (!marker.empty() && c == marker.front()) {
    const std::string_view rest = text_.substr(pos_);
    if (rest.substr(0, marker.size()) == marker) return MarkerString(out);
    if (rest.size() < marker.size() && marker.substr(0, rest.size()) == rest) {
      return at_end_ ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
    }
    return ParseStatus::kInvalid;
  }
  // A bare key (Gemma 4's call syntax, or a lenient reading of JSON).
  const size_t start = pos_;
  while (!AtEnd()) {
    const char k = text_[pos_];
    if (k == ':' || IsSpace(k)) break;
    if (k == '{' || k == '}' || k == '[' || k == ']' || k == ',' || k == '"' || k == '\'' ||
        k == '<') {
      return ParseStatus::kInvalid;
    }
    ++pos_;
  }
  if (AtEnd()) return at_end_ ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
  if (pos_ == start) return ParseStatus::kInvalid;
  *out = std::string(text_.substr(start, pos_ - start));
  return ParseStatus::kOk;
}

ParseStatus LenientParser::QuotedString(std::string* out) {
  const char quote = text_[pos_++];
  std::string s;
  while (!AtEnd()) {
    const char c = text_[pos_];
    if (c == quote) {
      ++pos_;
      *out = std::move(s);
      return ParseStatus::kOk;
    }
    if (c != '\\') {
      s.push_back(c);
      ++pos_;
      continue;
    }
    if (pos_ + 1 >= text_.size()) break;  // an escape cut by the end of the buffer
    const char e = text_[pos_ + 1];
    pos_ += 2;
    switch (e) {
      case 'n':
        s.push_back('\n');
        break;
      case 't':
        s.push_back('\t');
        break;
      case 'r':
        s.push_back('\r');
        break;
      case 'b':
        s.push_back('\b');
        break;
      case 'f':
        s.push_back('\f');
        break;
      case 'u': {
        if (pos_ + 4 > text_.size()) {
          pos_ -= 2;
          return at_end_ ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
        }
        uint32_t cp = 0;
        for (int k = 0; k < 4; ++k) {
          const int h = HexValue(text_[pos_ + k]);
          if (h < 0) return ParseStatus::kInvalid;
          cp = cp * 16 + static_cast<uint32_t>(h);
        }
        pos_ += 4;
        if (cp >= 0xD800 && cp < 0xDC00) {  // a high surrogate: its pair follows
          if (pos_ + 6 > text_.size()) {
            pos_ -= 6;
            return at_end_ ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
          }
          uint32_t low = 0;
          bool ok = text_[pos_] == '\\' && text_[pos_ + 1] == 'u';
          for (int k = 0; ok && k < 4; ++k) {
            const int h = HexValue(text_[pos_ + 2 + k]);
            ok = h >= 0;
            low = low * 16 + static_cast<uint32_t>(h < 0 ? 0 : h);
          }
          if (ok && low >= 0xDC00 && low < 0xE000) {
            pos_ += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else {
            cp = 0xFFFD;
          }
        } else if (cp >= 0xDC00 && cp < 0xE000) {
          cp = 0xFFFD;
        }
        AppendUtf8(&s, cp);
        break;
      }
      case '"':
      case '\'':
      case '\\':
      case '/':
        s.push_back(e);
        break;
      default:  // unknown escape: kept as written (Python does the same)
        s.push_back('\\');
        s.push_back(e);
    }
  }
  // The buffer ended inside the string: wait, or (at the end of the output)
  // close it there.
  if (!at_end_) return ParseStatus::kNeedMore;
  repaired_ = true;
  *out = std::move(s);
  pos_ = text_.size();
  return ParseStatus::kOk;
}

ParseStatus LenientParser::MarkerString(std::string* out) {
  const std::string_view marker = dialect_.marker_quote;
  pos_ += marker.size();
  const size_t close = text_.find(marker, pos_);
  if (close == std::string_view::npos) {
    // Unterminated: a repair for the caller (which knows where the call
    // ends); here it is need-more or invalid.
    return at_end_ ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
  }
  *out = std::string(text_.substr(pos_, close - pos_));
  pos_ = close + marker.size();
  return ParseStatus::kOk;
}

ParseStatus LenientParser::Word(json* out) {
  const bool marker_dialect = !dialect_.marker_quote.empty();
  const size_t start = pos_;
  while (!AtEnd()) {
    const char c = text_[pos_];
    if (c == ',' || c == '}' || c == ']' || c == ')') break;
    if (!marker_dialect && (IsSpace(c) || c == ':' || c == '=' || c == '{' || c == '[' ||
                            c == '"' || c == '\'' || c == '(')) {
      break;
    }
    // (Marker-quoted text is parsed whole, never from a growing buffer, so a
    // marker cut by the end of the buffer needs no care here.)
    if (marker_dialect && text_.substr(pos_).starts_with(dialect_.marker_quote)) break;
    ++pos_;
  }
  if (AtEnd() && !at_end_) return ParseStatus::kNeedMore;  // the word may go on
  std::string_view word = text_.substr(start, pos_ - start);
  while (!word.empty() && IsSpace(word.back())) word.remove_suffix(1);
  if (word.empty()) return ParseStatus::kInvalid;
  if (word == "true" || word == "True") {
    *out = true;
  } else if (word == "false" || word == "False") {
    *out = false;
  } else if (word == "null" || word == "None") {
    *out = nullptr;
  } else if (std::optional<json> number = ParseNumber(word)) {
    *out = std::move(*number);
  } else if (dialect_.bare_strings) {
    *out = std::string(word);
  } else {
    return ParseStatus::kInvalid;
  }
  return ParseStatus::kOk;
}

}  // namespace gemma::protocol
