// The structured syntax inside Gemma 4 and FunctionGemma tool blocks:
// declarations, calls and responses written as `key:value` with bare keys
// and a special token as the string quote (<|"|> for Gemma 4, <escape> for
// FunctionGemma). Rendered into prompt segments, the quote as a control
// segment and everything else as text.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "server/protocol/chat_types.h"

namespace gemma::protocol {

inline constexpr std::string_view kGemma4Quote = "<|\"|>";
inline constexpr std::string_view kFunctionGemmaQuote = "<escape>";

// A value: strings quoted, numbers and booleans bare, null as `null`,
// arrays `[a,b]`, objects `{k:v,...}` with keys sorted (quoted when
// `quote_keys`, as the templates do inside declarations).
void AppendMarkerValue(RenderedPrompt& out, const nlohmann::json& value, std::string_view quote,
                       bool quote_keys);

// `declaration:NAME{description:...,parameters:{properties:{...},required:[...],type:...}}`
// (the Gemma 4 template's format_function_declaration; FunctionGemma uses the
// same shape with its own quote).
void AppendMarkerDeclaration(RenderedPrompt& out, const ToolDefinition& tool,
                             std::string_view quote);

// `call:NAME{k:v,...}`; `arguments` must be an object.
void AppendMarkerCall(RenderedPrompt& out, std::string_view name, const nlohmann::json& arguments,
                      std::string_view quote);

// `response:NAME{k:v,...}` for an object result, `response:NAME{value:V}`
// otherwise.
void AppendMarkerResponse(RenderedPrompt& out, std::string_view name,
                          const nlohmann::json& response, std::string_view quote);

// A tool message's text as the value to render: a JSON object stays an
// object (the form Gemma 4 and FunctionGemma were shown in training, e.g.
// `response:get_weather{temperature:15}`); any other text is one string.
nlohmann::json ToolResultValue(std::string_view text);

}  // namespace gemma::protocol
