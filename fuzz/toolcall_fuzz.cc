// libFuzzer target for the tool-call parser. The first byte picks the chat
// format and the piece sizes; the rest is model output. The output is parsed
// whole and streamed in pieces, and the two must agree: same content,
// reasoning and calls, every call's arguments a JSON object, the streamed
// deltas adding up to the message. Crashes, sanitizer reports, exceptions
// and disagreements are bugs.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/protocol/tool_call_parser.h"

namespace {

using namespace gemma::protocol;

constexpr ChatFormat kFormats[] = {ChatFormat::kGemma3, ChatFormat::kFunctionGemma,
                                   ChatFormat::kGemma4Large};

ToolParserOptions Options() {
  ToolParserOptions options;
  options.tool_names = {"get_weather", "f", "a.b"};
  options.make_id = [](size_t index) { return "call_" + std::to_string(index); };
  return options;
}

bool SameMessage(const ParsedMessage& a, const ParsedMessage& b) {
  if (a.content != b.content || a.reasoning != b.reasoning ||
      a.tool_calls.size() != b.tool_calls.size()) {
    return false;
  }
  for (size_t i = 0; i < a.tool_calls.size(); ++i) {
    if (a.tool_calls[i].id != b.tool_calls[i].id || a.tool_calls[i].name != b.tool_calls[i].name ||
        a.tool_calls[i].arguments != b.tool_calls[i].arguments) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const ChatFormat format = kFormats[data[0] % 3];
  const size_t step = 1 + (data[0] >> 2) % 9;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  const ParsedMessage whole = ParseToolCalls(format, text, Options());
  for (const ToolCall& call : whole.tool_calls) {
    if (!nlohmann::json::parse(call.arguments, nullptr, false).is_object()) std::abort();
  }

  ToolCallParser parser(format, Options());
  ParsedMessage streamed;
  auto add = [&](const ParsedDelta& d) {
    streamed.content += d.content;
    streamed.reasoning += d.reasoning;
    for (const ToolCallDelta& t : d.tool_calls) {
      if (t.first) {
        if (static_cast<size_t>(t.index) != streamed.tool_calls.size()) std::abort();
        streamed.tool_calls.push_back({t.id, t.name, ""});
      } else {
        if (static_cast<size_t>(t.index) >= streamed.tool_calls.size()) std::abort();
        streamed.tool_calls[t.index].arguments += t.arguments;
      }
    }
  };
  for (size_t at = 0; at < text.size(); at += step) add(parser.Push(text.substr(at, step)));
  add(parser.Finish());
  if (!SameMessage(streamed, whole) || !SameMessage(parser.message(), whole)) std::abort();
  return 0;
}
