// FunctionGemma (tokenizer-and-prompts.md 9.2): Gemma 3 turns plus a
// developer turn that declares the functions, calls written as
// <start_function_call>call:NAME{...}<end_function_call> and results as
// <start_function_response>response:NAME{...}<end_function_response> inside
// the same model turn.
#include "server/protocol/chat_render_internal.h"
#include "server/protocol/marker_syntax.h"

namespace gemma::protocol::render_internal {

namespace {

constexpr std::string_view kFunctionSentence =
    "You can do function calling with the following functions:";

}  // namespace

Expected<RenderedPrompt> RenderFunctionGemma(const std::vector<ChatMessage>& messages,
                                             const std::vector<ToolDefinition>& tools,
                                             const RenderOptions& options) {
  RenderedPrompt out;
  out.AppendControl("<bos>");

  size_t first = 0;
  std::string system_text;
  if (messages[0].role == Role::kSystem || messages[0].role == Role::kDeveloper) {
    system_text = TrimmedContent(messages[0]);
    first = 1;
  }
  if (!system_text.empty() || !tools.empty()) {
    out.AppendControl("<start_of_turn>");
    out.AppendText("developer\n" + system_text);
    // The model was trained to call functions after this sentence; it is
    // added unless the system text already is that sentence.
    if (!tools.empty() && system_text != kFunctionSentence) {
      if (!system_text.empty()) out.AppendText("\n");
      out.AppendText(kFunctionSentence);
    }
    for (const ToolDefinition& tool : tools) {
      out.AppendControl("<start_function_declaration>");
      AppendMarkerDeclaration(out, tool, kFunctionGemmaQuote);
      out.AppendControl("<end_function_declaration>");
    }
    out.AppendControl("<end_of_turn>");
    out.AppendText("\n");
  }

  bool turn_open = false;  // a model turn waiting for more after tool results
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    switch (message.role) {
      case Role::kSystem:
      case Role::kDeveloper:
        return InvalidRequest(
            "a system message is only allowed at the start of the conversation for this model",
            MessageParam(i, "role"));
      case Role::kUser:
        if (turn_open) {
          out.AppendControl("<end_of_turn>");
          out.AppendText("\n");
          turn_open = false;
        }
        out.AppendControl("<start_of_turn>");
        out.AppendText("user\n" + TrimmedContent(message));
        out.AppendControl("<end_of_turn>");
        out.AppendText("\n");
        break;
      case Role::kAssistant: {
        if (!turn_open) {
          out.AppendControl("<start_of_turn>");
          out.AppendText("model\n");
        }
        turn_open = false;
        out.AppendText(TrimmedContent(message));
        for (size_t c = 0; c < message.tool_calls.size(); ++c) {
          Expected<nlohmann::json> args = CallArguments(messages, i, c);
          if (!args.ok()) return args.error();
          out.AppendControl("<start_function_call>");
          AppendMarkerCall(out, message.tool_calls[c].name, args.value(), kFunctionGemmaQuote);
          out.AppendControl("<end_function_call>");
        }
        if (message.tool_calls.empty()) {
          out.AppendControl("<end_of_turn>");
          out.AppendText("\n");
        } else {
          turn_open = true;  // the results follow in this turn
        }
        break;
      }
      case Role::kTool:
        out.AppendControl("<start_function_response>");
        AppendMarkerResponse(out, ToolResultName(messages, i),
                             ToolResultValue(message.JoinedContent()), kFunctionGemmaQuote);
        out.AppendControl("<end_function_response>");
        break;
    }
  }
  // After tool results the model continues its open turn; otherwise a new
  // model turn starts.
  if (options.add_generation_prompt && !turn_open) {
    out.AppendControl("<start_of_turn>");
    out.AppendText("model\n");
  }
  if (!options.add_generation_prompt && turn_open) {
    out.AppendControl("<end_of_turn>");
    out.AppendText("\n");
  }
  return out;
}

}  // namespace gemma::protocol::render_internal
