// RenderChat's dispatch, the helpers every format shares, and the Gemma
// 1/2/3 format (tokenizer-and-prompts.md 7.1-7.3, tool calling per 9.1).
#include "server/protocol/chat_render.h"

#include "server/protocol/chat_render_internal.h"
#include "server/protocol/request_fields.h"

namespace gemma::protocol {

namespace render_internal {

using json = nlohmann::json;

std::string Trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return "";
  const size_t end = text.find_last_not_of(kSpace);
  return std::string(text.substr(begin, end - begin + 1));
}

std::string TrimmedContent(const ChatMessage& message) {
  if (!message.content_is_parts) return Trim(message.JoinedContent());
  std::string text;
  for (const std::string& part : message.content) text += Trim(part);
  return text;
}

std::string MessageParam(size_t index, std::string_view field) {
  std::string param = "messages[" + std::to_string(index) + "]";
  if (!field.empty()) param += "." + std::string(field);
  return param;
}

Expected<json> CallArguments(const std::vector<ChatMessage>& messages, size_t index, size_t call) {
  const std::string& text = messages[index].tool_calls[call].arguments;
  if (Trim(text).empty()) return json::object();
  json parsed = JsonNesting(text) > kMaxJsonNesting ? json() : json::parse(text, nullptr, false);
  if (!parsed.is_object()) {
    return InvalidRequest(
        "the arguments of a tool call must be a JSON object (as text)",
        MessageParam(index, "tool_calls[" + std::to_string(call) + "].function.arguments"));
  }
  return parsed;
}

Expected<bool> ValidateToolMessages(const std::vector<ChatMessage>& messages) {
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    if (message.role == Role::kTool) {
      size_t j = i;
      while (j > 0 && messages[j - 1].role == Role::kTool) --j;
      if (j == 0 || messages[j - 1].role != Role::kAssistant ||
          messages[j - 1].tool_calls.empty()) {
        return InvalidRequest(
            "a message with role 'tool' must answer a preceding assistant message with "
            "'tool_calls'",
            MessageParam(i, "role"));
      }
    }
    if (message.role == Role::kAssistant && !message.tool_calls.empty() &&
        (i + 1 == messages.size() || messages[i + 1].role != Role::kTool)) {
      return InvalidRequest(
          "an assistant message with 'tool_calls' must be followed by tool messages with the "
          "results",
          MessageParam(i, "tool_calls"));
    }
  }
  return true;
}

std::string ToolResultName(const std::vector<ChatMessage>& messages, size_t tool_index) {
  const ChatMessage& result = messages[tool_index];
  if (!result.name.empty()) return result.name;
  size_t call_message = tool_index;
  while (call_message > 0 && messages[call_message - 1].role == Role::kTool) --call_message;
  if (call_message == 0) return "unknown";
  const std::vector<ToolCall>& calls = messages[call_message - 1].tool_calls;
  if (!result.tool_call_id.empty()) {
    for (const ToolCall& call : calls) {
      if (call.id == result.tool_call_id) return call.name;
    }
  }
  const size_t position = tool_index - call_message;
  return position < calls.size() ? calls[position].name : "unknown";
}

std::string StripThinking(std::string_view text) {
  std::string kept;
  for (;;) {
    const size_t open = text.find("<|channel>");
    if (open == std::string_view::npos) {
      kept += text;
      break;
    }
    kept += text.substr(0, open);
    const size_t close = text.find("<channel|>", open);
    if (close == std::string_view::npos) break;
    text.remove_prefix(close + std::string_view("<channel|>").size());
  }
  return Trim(kept);
}

namespace {

// A JSON value as a Python literal (True/False/None; strings in JSON's
// double-quoted form, which Python reads the same way).
std::string PythonLiteral(const json& value) {
  switch (value.type()) {
    case json::value_t::boolean:
      return value.get<bool>() ? "True" : "False";
    case json::value_t::null:
      return "None";
    case json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < value.size(); ++i) {
        if (i > 0) out += ", ";
        out += PythonLiteral(value[i]);
      }
      return out + "]";
    }
    case json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [key, item] : value.items()) {
        if (!first) out += ", ";
        first = false;
        out += DumpJson(json(key)) + ": " + PythonLiteral(item);
      }
      return out + "}";
    }
    default:
      return DumpJson(value);
  }
}

// The calls of an assistant message as the model is asked to write them:
// [name(key=value, ...), ...].
Expected<std::string> PythonCallList(const std::vector<ChatMessage>& messages, size_t index) {
  std::string out = "[";
  const std::vector<ToolCall>& calls = messages[index].tool_calls;
  for (size_t c = 0; c < calls.size(); ++c) {
    Expected<json> args = CallArguments(messages, index, c);
    if (!args.ok()) return args.error();
    if (c > 0) out += ", ";
    out += calls[c].name + "(";
    bool first = true;
    for (const auto& [key, value] : args.value().items()) {
      if (!first) out += ", ";
      first = false;
      out += key + "=" + PythonLiteral(value);
    }
    out += ")";
  }
  return out + "]";
}

struct Turn {
  bool user = true;
  std::string text;
  bool holds_tool_output = false;  // a following user message joins this turn
};

}  // namespace

// Gemma 1/2/3/3n. The official Gemma 3 template prefixes the first user turn
// with the system text and "\n\n"; Gemma 1/2's rejects a system message, and
// we do what Gemma 3 does instead (clients send system messages to every
// model). Tool calls follow the prompt-based convention (section 9.1): the
// instruction and the JSON tool list open the first user turn, earlier calls
// are written back as [name(key=value)], results come back in the next user
// turn as ```tool_output blocks.
Expected<RenderedPrompt> RenderGemma3(const std::vector<ChatMessage>& messages,
                                      const std::vector<ToolDefinition>& tools,
                                      const RenderOptions& options) {
  size_t first = 0;
  std::string system_text;
  while (first < messages.size() &&
         (messages[first].role == Role::kSystem || messages[first].role == Role::kDeveloper)) {
    if (first > 0) system_text += "\n\n";
    system_text += messages[first].JoinedContent();
    ++first;
  }

  std::vector<Turn> turns;
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    switch (message.role) {
      case Role::kSystem:
      case Role::kDeveloper:
        return InvalidRequest(
            "a system message is only allowed at the start of the conversation for this model",
            MessageParam(i, "role"));
      case Role::kUser:
        if (!turns.empty() && turns.back().holds_tool_output) {
          turns.back().text += "\n\n" + TrimmedContent(message);
          turns.back().holds_tool_output = false;
          continue;
        }
        if (!turns.empty() && turns.back().user) {
          return InvalidRequest(
              "conversation roles must alternate user/assistant/user/assistant/... (two user "
              "messages in a row)",
              MessageParam(i, "role"));
        }
        turns.push_back({true, TrimmedContent(message), false});
        continue;
      case Role::kAssistant: {
        if (turns.empty() || !turns.back().user) {
          return InvalidRequest(
              turns.empty() ? "the conversation must start with a user message (after an "
                              "optional system message)"
                            : "conversation roles must alternate user/assistant/user/assistant/"
                              "... (two assistant messages in a row)",
              MessageParam(i, "role"));
        }
        std::string text = TrimmedContent(message);
        if (!message.tool_calls.empty()) {
          Expected<std::string> calls = PythonCallList(messages, i);
          if (!calls.ok()) return calls.error();
          if (!text.empty()) text += "\n";
          text += calls.value();
        }
        turns.push_back({false, std::move(text), false});
        continue;
      }
      case Role::kTool: {
        const std::string block = "```tool_output\n" + Trim(message.JoinedContent()) + "\n```";
        if (!turns.empty() && turns.back().holds_tool_output) {
          turns.back().text += "\n" + block;
        } else {
          turns.push_back({true, block, true});
        }
        continue;
      }
    }
  }

  std::string prefix;
  if (first > 0) prefix += system_text + "\n\n";
  if (!tools.empty()) prefix += PromptToolPreamble(tools) + "\n\n";
  if (turns.empty()) {
    // Only system messages: their text becomes the user turn rather than
    // being dropped, as the template would.
    turns.push_back({true, Trim(prefix), false});
    prefix.clear();
  }

  RenderedPrompt out;
  out.AppendControl("<bos>");
  for (size_t t = 0; t < turns.size(); ++t) {
    out.AppendControl("<start_of_turn>");
    out.AppendText(turns[t].user ? "user\n" : "model\n");
    if (t == 0) out.AppendText(prefix);
    out.AppendText(turns[t].text);
    out.AppendControl("<end_of_turn>");
    out.AppendText("\n");
  }
  if (options.add_generation_prompt) {
    out.AppendControl("<start_of_turn>");
    out.AppendText("model\n");
  }
  return out;
}

}  // namespace render_internal

std::string PromptToolPreamble(const std::vector<ToolDefinition>& tools) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const ToolDefinition& tool : tools) {
    nlohmann::ordered_json entry;
    entry["name"] = tool.name;
    if (!tool.description.empty()) entry["description"] = tool.description;
    if (!tool.parameters.is_null()) entry["parameters"] = tool.parameters;
    list.push_back(std::move(entry));
  }
  return "You have access to functions. If you decide to invoke any of the function(s), you "
         "MUST put it in the format of\n"
         "[func_name1(params_name1=params_value1, params_name2=params_value2...), "
         "func_name2(params)]\n"
         "\n"
         "You SHOULD NOT include any other text in the response if you call a function\n" +
         list.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

Expected<RenderedPrompt> RenderChat(ChatFormat format, const std::vector<ChatMessage>& messages,
                                    const std::vector<ToolDefinition>& tools,
                                    const RenderOptions& options) {
  using namespace render_internal;
  if (messages.empty()) return InvalidRequest("'messages' must not be empty", "messages");
  Expected<bool> valid = ValidateToolMessages(messages);
  if (!valid.ok()) return valid.error();
  switch (format) {
    case ChatFormat::kGemma2:
    case ChatFormat::kGemma3:
      return RenderGemma3(messages, tools, options);
    case ChatFormat::kFunctionGemma:
      return RenderFunctionGemma(messages, tools, options);
    case ChatFormat::kGemma4Small:
      return RenderGemma4(messages, tools, options, false);
    case ChatFormat::kGemma4Large:
      return RenderGemma4(messages, tools, options, true);
  }
  return RenderGemma3(messages, tools, options);
}

}  // namespace gemma::protocol
