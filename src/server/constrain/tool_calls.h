// Grammars for forced tool calls (OpenAI tool_choice "required" or a named
// function): the model must emit one call (or, with parallel calls, one or
// more) to the given tools, with arguments valid under each tool's
// parameters schema.
//
// Syntaxes:
//  kJson           Gemma 2/3 prompt convention (spec tokenizer-and-prompts.md
//                  §9.1): {"name": "<tool>", "parameters": {...}}; the
//                  arguments field name is configurable ("arguments" for
//                  OpenAI-style prompts). Parallel: a JSON array of calls.
//  kFunctionGemma  <start_function_call>call:NAME{key:value,...}<end_function_call>
//                  with strings as <escape>text<escape> (§9.2); calls follow
//                  each other; <start_function_response> ends generation.
//  kGemma4         <|tool_call>call:NAME{key:<|"|>text<|"|>,...}<tool_call|>
//                  (§9.3); <|tool_response> ends generation.
// The special tokens are looked up by name in the vocabulary and matched as
// token ids, never as text. In the two native syntaxes arguments are written
// in the order the schema declares them, without additional properties.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/constrain/json_schema.h"

namespace gemma::constrain {

struct ToolSpec {
  std::string name;
  nlohmann::ordered_json parameters;  // JSON schema of the arguments object; null: none
};

enum class ToolCallSyntax { kJson, kFunctionGemma, kGemma4 };

struct ToolCallOptions {
  ToolCallSyntax syntax = ToolCallSyntax::kJson;
  bool parallel = false;          // one or more calls instead of exactly one
  int32_t max_calls = kUnbounded;  // with parallel
  std::string only_tool;          // non-empty: only this tool (tool_choice naming a function)
  std::string arguments_key = "parameters";  // kJson: the field holding the arguments
  SchemaOptions schema;
};

Constraint CompileToolCalls(const std::vector<ToolSpec>& tools, const ToolCallOptions& options,
                            std::shared_ptr<const VocabIndex> vocab);

// OpenAI "tools": [{"type":"function","function":{"name":..,"parameters":{..}}}].
// On error returns an empty list and sets *error.
std::vector<ToolSpec> ToolsFromOpenAI(const nlohmann::ordered_json& tools, std::string* error);

}  // namespace gemma::constrain
