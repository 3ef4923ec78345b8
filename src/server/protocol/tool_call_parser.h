// Splits model output into content, reasoning and tool calls, incrementally
// as text is generated. Text is held back only while it may still be the
// start of a call (or of a marker); output that does not parse as a call is
// content, never an error and never dropped.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "server/protocol/chat_format.h"
#include "server/protocol/chat_types.h"

namespace gemma::protocol {

// One OpenAI streaming tool-call delta. The first delta of a call carries
// index, id, type "function", name and arguments ""; the next one carries
// index and the arguments (the whole JSON text: a call is emitted once it is
// complete, so it never has to be retracted).
struct ToolCallDelta {
  int index = 0;
  std::string id;    // first delta only
  std::string name;  // first delta only
  std::string arguments;
  bool first = false;
};

// What one Push/Finish produced.
struct ParsedDelta {
  std::string content;
  std::string reasoning;
  std::vector<ToolCallDelta> tool_calls;

  bool empty() const { return content.empty() && reasoning.empty() && tool_calls.empty(); }
};

// The whole output, parsed.
struct ParsedMessage {
  std::string content;
  std::string reasoning;
  std::vector<ToolCall> tool_calls;
};

struct ToolParserOptions {
  // Declared tools; only these names count as calls. Empty: no calls (as for
  // tool_choice "none"), everything is content and reasoning.
  std::vector<std::string> tool_names;
  // At most this many calls (1 for parallel_tool_calls=false); later calls
  // are discarded. 0: no limit.
  size_t max_calls = 0;
  // Makes the id of call `index`; default "call_" + 24 random characters.
  std::function<std::string(size_t index)> make_id;
};

class ToolCallParser {
 public:
  ToolCallParser(ChatFormat format, ToolParserOptions options);

  // Feeds the next piece of generated text.
  ParsedDelta Push(std::string_view piece);
  // The output is complete: releases held text, repairs what can be
  // repaired at the end of the output.
  ParsedDelta Finish();

  // Everything produced so far.
  const ParsedMessage& message() const { return message_; }

 private:
  enum class State { kContent, kThoughtHeader, kReasoning, kCall };

  void Process(ParsedDelta& out);
  bool ProcessMarkerFormat(ParsedDelta& out);  // false: wait for more text
  bool ProcessPromptContent(ParsedDelta& out);
  void FinishCallBody(ParsedDelta& out, std::string_view body, std::string_view closer);
  void EmitContent(ParsedDelta& out, std::string_view text);
  void EmitReasoning(ParsedDelta& out, std::string_view text);
  void EndReasoning();
  void EmitCall(ParsedDelta& out, std::string name, std::string arguments);

  ChatFormat format_;
  ToolParserOptions options_;
  State state_ = State::kContent;
  std::string buffer_;   // text not yet emitted
  size_t searched_ = 0;  // buffer_ before this holds no call terminator (kCall)
  // A held prompt-style call candidate (at the start of buffer_): a lexical
  // scan that tells when the text may have completed it, so that it is not
  // re-parsed on every piece.
  struct HeldCandidate {
    bool active = false;
    size_t scanned = 0;  // bytes of buffer_ scanned
    int depth = 0;       // open brackets outside strings
    char quote = 0;      // the quote of the string being scanned, 0 outside
    bool escape = false;
    size_t next_full_evaluation = 0;  // fallback: re-parse when the text doubles
  };
  bool CandidateMayHaveChanged();
  HeldCandidate held_;
  bool at_end_ = false;
  // Whitespace before a tool call, and after the last one, is dropped: the
  // trailing whitespace of content and reasoning waits here until more text
  // shows that it is inside the text.
  std::string pending_content_space_;
  std::string pending_reasoning_space_;
  bool after_call_ = false;  // no content since the last call
  size_t calls_seen_ = 0;
  ParsedMessage message_;
};

// The non-streaming parse; equal to pushing `text` in any split and
// finishing.
ParsedMessage ParseToolCalls(ChatFormat format, std::string_view text,
                             const ToolParserOptions& options);

}  // namespace gemma::protocol
