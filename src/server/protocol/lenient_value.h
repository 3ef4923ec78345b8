// A lenient, incremental parser for the values models write in tool calls:
// JSON, Python literals ('single quotes', True/False/None, bare words) and
// the Gemma 4 / FunctionGemma syntax (bare keys, a special token as the
// string quote). It reads from a position in a buffer that may still grow,
// so besides "ok" and "invalid" it can answer "need more": the text so far
// is a valid beginning. With `at_end` the buffer is final and unclosed
// containers and strings are closed (the repairs docs/server-protocol.md
// lists).
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace gemma::protocol {

enum class ParseStatus { kOk, kNeedMore, kInvalid };

struct ValueDialect {
  std::string_view marker_quote;  // "<|\"|>" or "<escape>"; empty: none
  bool bare_strings = true;       // unquoted words are strings (Paris -> "Paris")
};

class LenientParser {
 public:
  LenientParser(std::string_view text, size_t pos, ValueDialect dialect, bool at_end)
      : text_(text), pos_(pos), dialect_(dialect), at_end_(at_end) {}

  // One value at the current position (leading whitespace skipped).
  ParseStatus Value(nlohmann::json* out);
  // An object whose first key is read and checked by `accept_first_key`
  // before the rest is parsed (so that a non-call object is rejected early).
  template <typename Accept>
  ParseStatus ObjectWithFirstKey(nlohmann::json* out, Accept accept_first_key);

  // A bare identifier ([A-Za-z_][A-Za-z0-9_.-]*); need-more at the end of
  // the buffer, since it may continue.
  ParseStatus Identifier(std::string* out);

  void SkipSpace();
  // True and consumed if the text continues with `literal`; kNeedMore when
  // the rest of the buffer is a proper prefix of it.
  ParseStatus Expect(std::string_view literal);
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  size_t pos() const { return pos_; }
  void set_pos(size_t pos) { pos_ = pos; }
  bool at_end() const { return at_end_; }
  bool repaired() const { return repaired_; }

 private:
  ParseStatus Object(nlohmann::json* out);
  ParseStatus Array(nlohmann::json* out);
  ParseStatus QuotedString(std::string* out);
  ParseStatus MarkerString(std::string* out);
  ParseStatus Key(std::string* out);
  ParseStatus Word(nlohmann::json* out);
  // End of buffer inside a construct: need more, or (at_end) the construct
  // is closed here as a repair.
  ParseStatus EndOfBuffer();

  std::string_view text_;
  size_t pos_;
  ValueDialect dialect_;
  bool at_end_;
  bool repaired_ = false;
  int depth_ = 0;  // nesting, bounded so that hostile input cannot exhaust the stack
};

template <typename Accept>
ParseStatus LenientParser::ObjectWithFirstKey(nlohmann::json* out, Accept accept_first_key) {
  const size_t start = pos_;
  SkipSpace();
  if (AtEnd()) return at_end_ ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
  if (Peek() != '{') return ParseStatus::kInvalid;
  ++pos_;
  SkipSpace();
  if (AtEnd()) return at_end_ ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
  std::string key;
  const ParseStatus status = Key(&key);
  if (status != ParseStatus::kOk) return status;
  if (!accept_first_key(key)) return ParseStatus::kInvalid;
  pos_ = start;
  SkipSpace();
  ++pos_;  // '{'
  return Object(out);
}

}  // namespace gemma::protocol
