#include "server/protocol/call_syntax.h"

#include <algorithm>

#include "server/protocol/request_fields.h"

namespace gemma::protocol {

namespace {

using json = nlohmann::json;

constexpr ValueDialect kPromptDialect{};  // JSON and Python literals, bare words

bool Declared(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool PrefixOfDeclared(const std::vector<std::string>& names, std::string_view partial) {
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& n) { return n.starts_with(partial); });
}

// A declared tool's name; need-more while the text so far could still grow
// into one.
ParseStatus ToolName(LenientParser& p, std::string_view text, const std::vector<std::string>& names,
                     std::string* name) {
  const size_t start = p.pos();
  const ParseStatus status = p.Identifier(name);
  if (status == ParseStatus::kNeedMore) {
    return PrefixOfDeclared(names, text.substr(start)) ? ParseStatus::kNeedMore
                                                       : ParseStatus::kInvalid;
  }
  if (status != ParseStatus::kOk) return status;
  return Declared(names, *name) ? ParseStatus::kOk : ParseStatus::kInvalid;
}

// End of the buffer where a closing bracket was expected: need more, or (at
// the end of the output) the bracket counts as there.
ParseStatus MissingCloser(const LenientParser& p) {
  return p.at_end() ? ParseStatus::kOk : ParseStatus::kNeedMore;
}

// name(key=value, ...)
ParseStatus PythonCall(LenientParser& p, std::string_view text,
                       const std::vector<std::string>& names, ParsedCall* call) {
  ParseStatus status = ToolName(p, text, names, &call->name);
  if (status != ParseStatus::kOk) return status;
  p.SkipSpace();
  if ((status = p.Expect("(")) != ParseStatus::kOk) return status;
  call->arguments = json::object();
  for (;;) {
    p.SkipSpace();
    if (p.AtEnd()) return MissingCloser(p);
    if (p.Peek() == ')') {
      p.set_pos(p.pos() + 1);
      return ParseStatus::kOk;
    }
    std::string key;  // keyword arguments only: positional ones have no name
    if ((status = p.Identifier(&key)) != ParseStatus::kOk) return status;
    p.SkipSpace();
    if ((status = p.Expect("=")) != ParseStatus::kOk) return status;
    json value;
    if ((status = p.Value(&value)) != ParseStatus::kOk) return status;
    call->arguments[key] = std::move(value);
    p.SkipSpace();
    if (p.AtEnd()) return MissingCloser(p);
    if (p.Peek() == ',') {
      p.set_pos(p.pos() + 1);
    } else if (p.Peek() != ')') {
      return ParseStatus::kInvalid;
    }
  }
}

// {"name": N, "parameters"|"arguments": {...}}, also wrapped as
// {"function": {...}} or {"type": "function", "function": {...}}.
bool CallFromJson(const json& object, const std::vector<std::string>& names, ParsedCall* call) {
  const json* source = &object;
  if (const auto f = object.find("function"); f != object.end() && f->is_object()) {
    source = &*f;
  }
  const auto name = source->find("name");
  if (name == source->end() || !name->is_string() || !Declared(names, name->get<std::string>())) {
    return false;
  }
  call->name = name->get<std::string>();
  json args = json::object();
  for (const char* key : {"parameters", "arguments"}) {
    const auto a = source->find(key);
    if (a == source->end()) continue;
    if (a->is_string()) {
      // Bounded nesting: the arguments are serialised recursively later.
      const std::string& text = a->get_ref<const std::string&>();
      args = JsonNesting(text) > kMaxJsonNesting ? json(json::value_t::discarded)
                                                 : json::parse(text, nullptr, false);
    } else {
      args = *a;
    }
    break;
  }
  if (args.is_null()) args = json::object();
  if (!args.is_object()) return false;
  call->arguments = std::move(args);
  return true;
}

ParseStatus JsonCall(LenientParser& p, const std::vector<std::string>& names, ParsedCall* call) {
  json object;
  const ParseStatus status = p.ObjectWithFirstKey(&object, [](const std::string& key) {
    return key == "name" || key == "function" || key == "type";
  });
  if (status != ParseStatus::kOk) return status;
  return CallFromJson(object, names, call) ? ParseStatus::kOk : ParseStatus::kInvalid;
}

// '[' then python calls or JSON call objects, comma-separated, then ']'.
ParseStatus CallList(LenientParser& p, std::string_view text, const std::vector<std::string>& names,
                     std::vector<ParsedCall>* calls) {
  p.set_pos(p.pos() + 1);  // '['
  p.SkipSpace();
  if (p.AtEnd()) return p.at_end() ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
  const bool json_items = p.Peek() == '{';
  for (;;) {
    ParsedCall call;
    const ParseStatus status =
        json_items ? JsonCall(p, names, &call) : PythonCall(p, text, names, &call);
    if (status != ParseStatus::kOk) return status;
    calls->push_back(std::move(call));
    p.SkipSpace();
    if (p.AtEnd()) return MissingCloser(p);
    if (p.Peek() == ']') {
      p.set_pos(p.pos() + 1);
      return ParseStatus::kOk;
    }
    if (p.Peek() != ',') return ParseStatus::kInvalid;
    p.set_pos(p.pos() + 1);
    p.SkipSpace();
  }
}

// Inside a fence: bare calls `name(...)` (or `print(name(...))`), one or
// more, separated by whitespace, commas or semicolons.
ParseStatus BareCalls(LenientParser& p, std::string_view text,
                      const std::vector<std::string>& names, std::vector<ParsedCall>* calls) {
  for (;;) {
    const std::string_view rest = text.substr(p.pos());
    constexpr std::string_view kPrint = "print(";
    bool print = rest.starts_with(kPrint);
    if (!print && kPrint.starts_with(rest) && !PrefixOfDeclared(names, rest)) {
      return p.at_end() ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
    }
    if (print) p.set_pos(p.pos() + kPrint.size());
    ParsedCall call;
    ParseStatus status = PythonCall(p, text, names, &call);
    if (status != ParseStatus::kOk) return status;
    if (print) {
      p.SkipSpace();
      if (p.AtEnd()) return MissingCloser(p);
      if ((status = p.Expect(")")) != ParseStatus::kOk) return status;
    }
    calls->push_back(std::move(call));
    while (!p.AtEnd() && (p.Peek() == ' ' || p.Peek() == '\t' || p.Peek() == '\n' ||
                          p.Peek() == '\r' || p.Peek() == ',' || p.Peek() == ';')) {
      p.set_pos(p.pos() + 1);
    }
    if (p.AtEnd() || p.Peek() == '`') return ParseStatus::kOk;
  }
}

ParseStatus Fence(LenientParser& p, std::string_view text, const std::vector<std::string>& names,
                  std::vector<ParsedCall>* calls) {
  ParseStatus status = p.Expect("```");
  if (status != ParseStatus::kOk) return status;
  const size_t lang_start = p.pos();
  while (!p.AtEnd() && p.Peek() != '\n') {
    const char c = p.Peek();
    const bool lang_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == ' ';
    if (!lang_char) return ParseStatus::kInvalid;
    p.set_pos(p.pos() + 1);
  }
  if (p.AtEnd()) return p.at_end() ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
  std::string lang(text.substr(lang_start, p.pos() - lang_start));
  while (!lang.empty() && lang.back() == ' ') lang.pop_back();
  static constexpr std::string_view kLanguages[] = {"",     "tool_code", "tool_call", "tool_calls",
                                                    "json", "python",    "py"};
  if (std::find(std::begin(kLanguages), std::end(kLanguages), lang) == std::end(kLanguages)) {
    return ParseStatus::kInvalid;
  }
  p.SkipSpace();
  if (p.AtEnd()) return p.at_end() ? ParseStatus::kInvalid : ParseStatus::kNeedMore;
  if (p.Peek() == '[') {
    status = CallList(p, text, names, calls);
  } else if (p.Peek() == '{') {
    ParsedCall call;
    status = JsonCall(p, names, &call);
    if (status == ParseStatus::kOk) calls->push_back(std::move(call));
  } else {
    status = BareCalls(p, text, names, calls);
  }
  if (status != ParseStatus::kOk) return status;
  p.SkipSpace();
  if (p.AtEnd()) return MissingCloser(p);  // an unclosed fence at the end of the output
  return p.Expect("```");
}

}  // namespace

CallMatch MatchPromptCall(std::string_view text, size_t pos, const std::vector<std::string>& names,
                          bool at_end) {
  CallMatch match;
  if (names.empty() || pos >= text.size()) return match;
  LenientParser p(text, pos, kPromptDialect, at_end);
  switch (text[pos]) {
    case '[':
      match.status = CallList(p, text, names, &match.calls);
      break;
    case '{': {
      ParsedCall call;
      match.status = JsonCall(p, names, &call);
      if (match.status == ParseStatus::kOk) match.calls.push_back(std::move(call));
      break;
    }
    case '`':
      match.status = Fence(p, text, names, &match.calls);
      break;
    default:
      return match;
  }
  if (match.status == ParseStatus::kOk) {
    match.end = p.pos();
  } else {
    match.calls.clear();
  }
  return match;
}

namespace {

// call:NAME{...} [call:NAME{...}]... over the whole body.
std::vector<ParsedCall> ParseCallsIn(std::string_view body, std::string_view quote,
                                     const std::vector<std::string>& names) {
  std::vector<ParsedCall> calls;
  LenientParser p(body, 0, ValueDialect{quote, true}, /*at_end=*/true);
  for (;;) {
    p.SkipSpace();
    if (p.AtEnd()) break;
    if (p.Expect("call:") != ParseStatus::kOk) return {};
    const size_t brace = body.find('{', p.pos());
    if (brace == std::string_view::npos) return {};
    std::string_view name = body.substr(p.pos(), brace - p.pos());
    while (!name.empty() && (name.back() == ' ' || name.back() == '\n')) name.remove_suffix(1);
    if (!Declared(names, name)) return {};
    p.set_pos(brace);
    json args;
    if (p.Value(&args) != ParseStatus::kOk || !args.is_object()) return {};
    calls.push_back({std::string(name), std::move(args)});
    p.SkipSpace();
    if (!p.AtEnd() && p.Peek() == ',') p.set_pos(p.pos() + 1);
  }
  return calls;
}

size_t CountOccurrences(std::string_view text, std::string_view needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

}  // namespace

std::vector<ParsedCall> ParseMarkerCallBody(std::string_view body, std::string_view quote,
                                            const std::vector<std::string>& names) {
  if (names.empty()) return {};
  // As written (missing closing braces are closed by the parser at the end
  // of the body).
  std::vector<ParsedCall> calls = ParseCallsIn(body, quote, names);
  if (!calls.empty() || CountOccurrences(body, quote) % 2 == 0) return calls;
  // An odd number of quotes: the last string lacks its closing quote. It
  // goes before the closing brackets (and whitespace) the body ends with.
  size_t cut = body.size();
  while (cut > 0 && (body[cut - 1] == '}' || body[cut - 1] == ']' || body[cut - 1] == ' ' ||
                     body[cut - 1] == '\n')) {
    --cut;
  }
  std::string repaired(body.substr(0, cut));
  repaired += quote;
  repaired += body.substr(cut);
  return ParseCallsIn(repaired, quote, names);
}

}  // namespace gemma::protocol
