#include "server/protocol/tool_call_parser.h"

#include <algorithm>
#include <random>

#include "server/protocol/api_error.h"
#include "server/protocol/call_syntax.h"
#include "server/protocol/marker_syntax.h"

namespace gemma::protocol {

namespace {

constexpr std::string_view kSpace = " \t\n\r";

// The markers of a format with native call tokens. Content markers start a
// thought channel or a call, or are stray closers and stop tokens that are
// dropped when they show up in the text.
struct MarkerSet {
  std::string_view quote;
  std::string_view call_open;
  std::string_view call_close;
  std::string_view channel_open;  // empty: no reasoning channel
  std::string_view channel_close;
  std::vector<std::string_view> content_markers;    // call_open, channel_open, then dropped
  std::vector<std::string_view> reasoning_markers;  // channel_close, call_open, dropped
  std::vector<std::string_view> call_terminators;   // call_close first
};

const MarkerSet& Gemma4Markers() {
  static const MarkerSet set{
      kGemma4Quote,
      "<|tool_call>",
      "<tool_call|>",
      "<|channel>",
      "<channel|>",
      {"<|tool_call>", "<|channel>", "<tool_call|>", "<|tool_response>", "<tool_response|>",
       "<channel|>", "<turn|>"},
      {"<channel|>", "<|tool_call>", "<|channel>"},
      {"<tool_call|>", "<|tool_call>", "<|tool_response>", "<turn|>", "<|channel>"}};
  return set;
}

const MarkerSet& FunctionGemmaMarkers() {
  static const MarkerSet set{
      kFunctionGemmaQuote,
      "<start_function_call>",
      "<end_function_call>",
      "",
      "",
      {"<start_function_call>", "<end_function_call>", "<start_function_response>",
       "<end_function_response>", "<end_of_turn>"},
      {},
      {"<end_function_call>", "<start_function_call>", "<start_function_response>",
       "<end_of_turn>"}};
  return set;
}

const MarkerSet* MarkersFor(ChatFormat format) {
  if (IsGemma4(format)) return &Gemma4Markers();
  if (format == ChatFormat::kFunctionGemma) return &FunctionGemmaMarkers();
  return nullptr;  // Gemma 1/2/3: prompt-based calls, no markers
}

struct Found {
  size_t pos = std::string::npos;
  std::string_view marker;
};

Found FindFirst(const std::string& text, const std::vector<std::string_view>& markers,
                size_t from) {
  Found found;
  for (std::string_view marker : markers) {
    const size_t at = text.find(marker, from);
    if (at < found.pos) found = {at, marker};
  }
  return found;
}

size_t LongestMarker(const std::vector<std::string_view>& markers) {
  size_t longest = 0;
  for (std::string_view m : markers) longest = std::max(longest, m.size());
  return longest;
}

// The length of the longest end of `text` that is a proper beginning of a
// marker (held back: the marker may be completed by the next piece).
size_t PartialMarkerSuffix(std::string_view text, const std::vector<std::string_view>& markers) {
  const size_t longest = LongestMarker(markers);
  for (size_t k = std::min(text.size(), longest > 0 ? longest - 1 : 0); k > 0; --k) {
    const std::string_view tail = text.substr(text.size() - k);
    for (std::string_view m : markers) {
      if (m.size() > k && m.starts_with(tail)) return k;
    }
  }
  return 0;
}

std::string RandomCallId() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id += kAlphabet[pick(rng)];
  return id;
}

// Re-parsing a held prompt-style call on every piece costs O(n) each time.
// Up to this size it is re-parsed eagerly (most non-calls are rejected within
// their first bytes); past it only when the held text may have completed the
// call (a bracket closing the outermost one outside strings, or a backtick),
// or when it has doubled since the last parse. Match results only depend on
// the text, and a complete call or a rejection stays so as text is appended,
// so parsing later changes latency, never the result.
constexpr size_t kEagerEvaluationLimit = 256;

}  // namespace

ToolCallParser::ToolCallParser(ChatFormat format, ToolParserOptions options)
    : format_(format), options_(std::move(options)) {
  if (!options_.make_id) options_.make_id = [](size_t) { return RandomCallId(); };
}

ParsedDelta ToolCallParser::Push(std::string_view piece) {
  ParsedDelta out;
  if (at_end_) return out;
  buffer_.append(piece);
  Process(out);
  return out;
}

ParsedDelta ToolCallParser::Finish() {
  ParsedDelta out;
  if (at_end_) return out;
  at_end_ = true;
  Process(out);
  if (state_ == State::kReasoning) EndReasoning();
  // Trailing whitespace of the content stays unless a call came last.
  if (!after_call_ && !pending_content_space_.empty()) {
    out.content += pending_content_space_;
    message_.content += pending_content_space_;
  }
  pending_content_space_.clear();
  return out;
}

void ToolCallParser::Process(ParsedDelta& out) {
  if (MarkersFor(format_) != nullptr) {
    while (ProcessMarkerFormat(out)) {
    }
  } else {
    ProcessPromptContent(out);
  }
}

bool ToolCallParser::ProcessMarkerFormat(ParsedDelta& out) {
  const MarkerSet& m = *MarkersFor(format_);
  switch (state_) {
    case State::kContent: {
      const Found found = FindFirst(buffer_, m.content_markers, 0);
      if (found.pos == std::string::npos) {
        const size_t hold = at_end_ ? 0 : PartialMarkerSuffix(buffer_, m.content_markers);
        EmitContent(out, std::string_view(buffer_).substr(0, buffer_.size() - hold));
        buffer_.erase(0, buffer_.size() - hold);
        return false;
      }
      EmitContent(out, std::string_view(buffer_).substr(0, found.pos));
      buffer_.erase(0, found.pos + found.marker.size());
      if (found.marker == m.call_open) {
        state_ = State::kCall;
        searched_ = 0;
      } else if (found.marker == m.channel_open) {
        state_ = State::kThoughtHeader;
      }  // anything else is a stray closer or stop marker: dropped
      return true;
    }
    case State::kThoughtHeader: {
      // <|channel>thought\n opens the reasoning; the channel name and its
      // newline are not part of it.
      constexpr std::string_view kThought = "thought";
      if (buffer_.starts_with(kThought)) {
        if (buffer_.size() == kThought.size() && !at_end_) return false;
        buffer_.erase(0, kThought.size());
        if (!buffer_.empty() && buffer_.front() == '\n') buffer_.erase(0, 1);
      } else if (kThought.starts_with(buffer_) && !at_end_) {
        return false;
      }
      state_ = State::kReasoning;
      return true;
    }
    case State::kReasoning: {
      const Found found = FindFirst(buffer_, m.reasoning_markers, 0);
      if (found.pos == std::string::npos) {
        const size_t hold = at_end_ ? 0 : PartialMarkerSuffix(buffer_, m.reasoning_markers);
        EmitReasoning(out, std::string_view(buffer_).substr(0, buffer_.size() - hold));
        buffer_.erase(0, buffer_.size() - hold);
        return false;
      }
      EmitReasoning(out, std::string_view(buffer_).substr(0, found.pos));
      buffer_.erase(0, found.pos + found.marker.size());
      if (found.marker == m.channel_close) {
        EndReasoning();
        state_ = State::kContent;
      } else if (found.marker == m.call_open) {  // a call ends the reasoning implicitly
        EndReasoning();
        state_ = State::kCall;
        searched_ = 0;
      }
      return true;
    }
    case State::kCall: {
      const Found found = FindFirst(buffer_, m.call_terminators, searched_);
      if (found.pos == std::string::npos) {
        if (!at_end_) {
          const size_t longest = LongestMarker(m.call_terminators);
          searched_ = buffer_.size() >= longest ? buffer_.size() - longest + 1 : 0;
          return false;
        }
        const std::string body = std::move(buffer_);
        buffer_.clear();
        state_ = State::kContent;
        FinishCallBody(out, body, "");
        return true;
      }
      const std::string body = buffer_.substr(0, found.pos);
      // The closer is consumed; any other terminator (the next call, a stop
      // marker) is left for the content state.
      const bool closed = found.marker == m.call_close;
      buffer_.erase(0, found.pos + (closed ? found.marker.size() : 0));
      state_ = State::kContent;
      FinishCallBody(out, body, closed ? found.marker : std::string_view());
      return true;
    }
  }
  return false;
}

void ToolCallParser::FinishCallBody(ParsedDelta& out, std::string_view body,
                                    std::string_view closer) {
  const MarkerSet& m = *MarkersFor(format_);
  std::vector<ParsedCall> calls = ParseMarkerCallBody(body, m.quote, options_.tool_names);
  if (calls.empty()) {
    // Not a call of a declared tool: the text comes back as it was written.
    std::string text(m.call_open);
    text += body;
    text += closer;
    EmitContent(out, text);
    return;
  }
  for (ParsedCall& call : calls) EmitCall(out, std::move(call.name), DumpJson(call.arguments));
}

bool ToolCallParser::ProcessPromptContent(ParsedDelta& out) {
  if (options_.tool_names.empty()) {
    EmitContent(out, buffer_);
    buffer_.clear();
    return false;
  }
  for (;;) {
    const size_t candidate = buffer_.find_first_of("[{`");
    if (candidate == std::string::npos) {
      EmitContent(out, buffer_);
      buffer_.clear();
      held_ = {};
      return false;
    }
    if (candidate > 0) {
      EmitContent(out, std::string_view(buffer_).substr(0, candidate));
      buffer_.erase(0, candidate);
      held_ = {};
    }
    if (!CandidateMayHaveChanged()) return false;
    CallMatch match = MatchPromptCall(buffer_, 0, options_.tool_names, at_end_);
    switch (match.status) {
      case ParseStatus::kNeedMore:
        held_.active = true;
        held_.next_full_evaluation = 2 * buffer_.size();
        return false;
      case ParseStatus::kInvalid:
        EmitContent(out, std::string_view(buffer_).substr(0, 1));
        buffer_.erase(0, 1);
        held_ = {};
        break;
      case ParseStatus::kOk:
        for (ParsedCall& call : match.calls) {
          EmitCall(out, std::move(call.name), DumpJson(call.arguments));
        }
        buffer_.erase(0, match.end);
        held_ = {};
        break;
    }
  }
}

bool ToolCallParser::CandidateMayHaveChanged() {
  HeldCandidate& h = held_;
  bool may_close = false;
  for (; h.scanned < buffer_.size(); ++h.scanned) {
    const char c = buffer_[h.scanned];
    if (h.quote != 0) {
      if (h.escape) {
        h.escape = false;
      } else if (c == '\\') {
        h.escape = true;
      } else if (c == h.quote) {
        h.quote = 0;
      }
    } else if (c == '"' || c == '\'') {
      h.quote = c;
    } else if (c == '[' || c == '{' || c == '(') {
      ++h.depth;
    } else if (c == ']' || c == '}' || c == ')') {
      if (--h.depth <= 0) may_close = true;
    } else if (c == '`') {
      may_close = true;
    }
  }
  return !h.active || at_end_ || buffer_.size() <= kEagerEvaluationLimit || may_close ||
         buffer_.size() >= h.next_full_evaluation;
}

void ToolCallParser::EmitContent(ParsedDelta& out, std::string_view text) {
  if (text.empty()) return;
  const size_t last = text.find_last_not_of(kSpace);
  if (last == std::string_view::npos) {
    pending_content_space_ += text;
    return;
  }
  std::string piece = std::move(pending_content_space_);
  piece += text.substr(0, last + 1);
  pending_content_space_ = std::string(text.substr(last + 1));
  after_call_ = false;
  out.content += piece;
  message_.content += piece;
}

void ToolCallParser::EmitReasoning(ParsedDelta& out, std::string_view text) {
  if (text.empty()) return;
  const size_t last = text.find_last_not_of(kSpace);
  if (last == std::string_view::npos) {
    pending_reasoning_space_ += text;
    return;
  }
  std::string piece = std::move(pending_reasoning_space_);
  piece += text.substr(0, last + 1);
  pending_reasoning_space_ = std::string(text.substr(last + 1));
  out.reasoning += piece;
  message_.reasoning += piece;
}

void ToolCallParser::EndReasoning() { pending_reasoning_space_.clear(); }

void ToolCallParser::EmitCall(ParsedDelta& out, std::string name, std::string arguments) {
  pending_content_space_.clear();
  after_call_ = true;
  ++calls_seen_;
  if (options_.max_calls != 0 && calls_seen_ > options_.max_calls) return;
  const size_t index = message_.tool_calls.size();
  ToolCall call{options_.make_id(index), std::move(name), std::move(arguments)};
  out.tool_calls.push_back({static_cast<int>(index), call.id, call.name, "", true});
  out.tool_calls.push_back({static_cast<int>(index), "", "", call.arguments, false});
  message_.tool_calls.push_back(std::move(call));
}

ParsedMessage ParseToolCalls(ChatFormat format, std::string_view text,
                             const ToolParserOptions& options) {
  ToolCallParser parser(format, options);
  parser.Push(text);
  parser.Finish();
  return parser.message();
}

}  // namespace gemma::protocol
