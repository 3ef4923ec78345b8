// libFuzzer target for the protocol layer's request side. The input is a
// request body: it goes through ParseJsonBody and every OpenAI and Ollama
// request parser; chat requests that parse are rendered in every chat
// format; the bytes also serve as a chat template for DetectChatFormat and
// as generated text for the stop-string matcher. Any crash, sanitizer
// report or exception is a bug (the protocol code reports problems as
// ApiError values, never by throwing).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/protocol/chat_render.h"
#include "server/protocol/request_fields.h"
#include "server/protocol/requests.h"
#include "server/protocol/stop_strings.h"

namespace {

using namespace gemma::protocol;

void RenderAll(const ChatRequest& request) {
  for (ChatFormat format : {ChatFormat::kGemma2, ChatFormat::kGemma3, ChatFormat::kFunctionGemma,
                            ChatFormat::kGemma4Small, ChatFormat::kGemma4Large}) {
    for (const bool thinking : {false, true}) {
      RenderOptions options;
      options.enable_thinking = thinking;
      const Expected<RenderedPrompt> prompt =
          RenderChat(format, request.messages, request.tools, options);
      if (prompt.ok()) {
        // Segments are never empty, and the prompt starts with <bos>.
        if (prompt.value().segments.empty() || prompt.value().segments[0].text != "<bos>") {
          std::abort();
        }
        (void)prompt.value().ToString();
      } else if (prompt.error().http_status != 400 || prompt.error().message.empty()) {
        std::abort();
      }
    }
  }
}

void CheckError(const ApiError& error) {
  if (error.http_status != 400 || error.message.empty()) std::abort();
  (void)DumpJson(error.ToOpenAiJson());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)DetectChatFormat("gemma3", bytes, bytes);

  StopStringMatcher stops({std::string(bytes.substr(0, 3)), "\n\n"});
  std::string released;
  for (size_t at = 0; at < bytes.size() && !stops.stopped(); at += 5) {
    released += stops.Push(bytes.substr(at, 5));
  }
  released += stops.Finish();
  if (released.size() > bytes.size()) std::abort();

  const Expected<nlohmann::json> body = ParseJsonBody(bytes);
  if (!body.ok()) {
    CheckError(body.error());
    return 0;
  }
  const nlohmann::json& json = body.value();
  if (auto r = ParseOpenAiChatRequest(json); r.ok()) {
    RenderAll(r.value());
  } else {
    CheckError(r.error());
  }
  if (auto r = ParseOllamaChatRequest(json); r.ok()) {
    if (!r.value().messages.empty()) RenderAll(r.value());
  } else {
    CheckError(r.error());
  }
  if (auto r = ParseOpenAiCompletionRequest(json); !r.ok()) CheckError(r.error());
  if (auto r = ParseOpenAiEmbeddingRequest(json); !r.ok()) CheckError(r.error());
  if (auto r = ParseOllamaGenerateRequest(json); !r.ok()) CheckError(r.error());
  if (auto r = ParseOllamaEmbedRequest(json); !r.ok()) CheckError(r.error());
  if (auto r = ParseOllamaShowRequest(json); !r.ok()) CheckError(r.error());
  return 0;
}
