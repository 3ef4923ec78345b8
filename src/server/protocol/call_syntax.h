// Recognising tool calls in model output text: the prompt-based forms of
// Gemma 1/2/3 ([name(k=v)], {"name":..,"parameters":..}, optionally in a
// ```tool_code fence) and the bodies of Gemma 4 / FunctionGemma call blocks
// (call:NAME{k:v}). Only names of declared tools count as calls.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "server/protocol/lenient_value.h"

namespace gemma::protocol {

struct ParsedCall {
  std::string name;
  nlohmann::json arguments;  // an object
};

struct CallMatch {
  ParseStatus status = ParseStatus::kInvalid;
  size_t end = 0;  // one past the call text (kOk)
  std::vector<ParsedCall> calls;
};

// A prompt-style call starting at text[pos] (which is '[', '{' or '`').
// kNeedMore: the text so far is a valid beginning of a call. With `at_end`
// the text is final: a call cut short is closed if only closing brackets,
// a closing quote or the closing fence are missing.
CallMatch MatchPromptCall(std::string_view text, size_t pos, const std::vector<std::string>& names,
                          bool at_end);

// The calls in the body of a marker-delimited block (the text between
// <|tool_call> and <tool_call|>, or <start_function_call> and
// <end_function_call>): one or more `call:NAME{...}`. Repairs a missing
// closing brace and a missing final string quote; an empty result means the
// body is not a call.
std::vector<ParsedCall> ParseMarkerCallBody(std::string_view body, std::string_view quote,
                                            const std::vector<std::string>& names);

}  // namespace gemma::protocol
