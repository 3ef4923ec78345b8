#include "server/protocol/chat_format.h"

#include <algorithm>
#include <cctype>

namespace gemma::protocol {

namespace {

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Gemma 4 E2B/E4B ("gemma-4-E2B-it", "gemma4:e4b", ...).
bool NamesSmallGemma4(std::string_view model_name) {
  const std::string name = Lower(model_name);
  for (const char* size : {"e2b", "e4b"}) {
    const size_t at = name.find(size);
    if (at == std::string::npos) continue;
    const bool starts = at == 0 || !std::isalnum(static_cast<unsigned char>(name[at - 1]));
    const size_t end = at + 3;
    const bool ends = end == name.size() || !std::isalnum(static_cast<unsigned char>(name[end]));
    if (starts && ends) return true;
  }
  return false;
}

}  // namespace

const char* ChatFormatName(ChatFormat format) {
  switch (format) {
    case ChatFormat::kGemma2:
      return "gemma2";
    case ChatFormat::kGemma3:
      return "gemma3";
    case ChatFormat::kFunctionGemma:
      return "functiongemma";
    case ChatFormat::kGemma4Small:
      return "gemma4-small";
    case ChatFormat::kGemma4Large:
      return "gemma4-large";
  }
  return "gemma3";
}

bool ParseChatFormatName(std::string_view name, ChatFormat* format) {
  for (ChatFormat f : {ChatFormat::kGemma2, ChatFormat::kGemma3, ChatFormat::kFunctionGemma,
                       ChatFormat::kGemma4Small, ChatFormat::kGemma4Large}) {
    if (name == ChatFormatName(f)) {
      *format = f;
      return true;
    }
  }
  return false;
}

bool IsGemma4(ChatFormat format) {
  return format == ChatFormat::kGemma4Small || format == ChatFormat::kGemma4Large;
}

ChatFormat DetectChatFormat(std::string_view architecture, std::string_view chat_template,
                            std::string_view model_name) {
  // Gemma 4: its own turn markers. The 26B/31B templates append an empty
  // thought block to the generation prompt when thinking is off (written in
  // the Jinja source as a string literal with an escaped or a real newline);
  // the E2B/E4B templates do not.
  if (Contains(chat_template, "<|turn>") || Contains(chat_template, "<|tool_call>")) {
    const bool empty_thought = Contains(chat_template, "<|channel>thought\\n<channel|>") ||
                               Contains(chat_template, "<|channel>thought\n<channel|>");
    return empty_thought ? ChatFormat::kGemma4Large : ChatFormat::kGemma4Small;
  }
  if (Contains(chat_template, "<start_function_declaration>") ||
      Contains(chat_template, "<start_function_call>")) {
    return ChatFormat::kFunctionGemma;
  }
  if (Contains(chat_template, "<start_of_turn>")) {
    // Gemma 3's template carries the system text as first_user_prefix and has
    // image items; Gemma 3n's has image/audio soft tokens. Gemma 1/2's has
    // neither (it rejects a system message).
    const bool gemma3 = Contains(chat_template, "first_user_prefix") ||
                        Contains(chat_template, "<start_of_image>") ||
                        Contains(chat_template, "<image_soft_token>") ||
                        Contains(chat_template, "<audio_soft_token>");
    return gemma3 ? ChatFormat::kGemma3 : ChatFormat::kGemma2;
  }

  const std::string arch = Lower(architecture);
  if (arch == "gemma4") {
    return NamesSmallGemma4(model_name) ? ChatFormat::kGemma4Small : ChatFormat::kGemma4Large;
  }
  if (Contains(Lower(model_name), "functiongemma")) return ChatFormat::kFunctionGemma;
  if (arch == "gemma" || arch == "gemma2" || arch == "recurrentgemma") return ChatFormat::kGemma2;
  return ChatFormat::kGemma3;
}

std::vector<std::string> StopMarkers(ChatFormat format) {
  switch (format) {
    case ChatFormat::kGemma2:
    case ChatFormat::kGemma3:
      return {"<end_of_turn>", "<eos>"};
    case ChatFormat::kFunctionGemma:
      return {"<end_of_turn>", "<eos>", "<start_function_response>"};
    case ChatFormat::kGemma4Small:
    case ChatFormat::kGemma4Large:
      return {"<turn|>", "<eos>", "<|tool_response>"};
  }
  return {"<eos>"};
}

std::vector<std::string> ControlMarkers(ChatFormat format) {
  switch (format) {
    case ChatFormat::kGemma2:
    case ChatFormat::kGemma3:
      return {"<bos>", "<start_of_turn>", "<end_of_turn>"};
    case ChatFormat::kFunctionGemma:
      return {"<bos>",
              "<start_of_turn>",
              "<end_of_turn>",
              "<start_function_declaration>",
              "<end_function_declaration>",
              "<start_function_call>",
              "<end_function_call>",
              "<start_function_response>",
              "<end_function_response>",
              "<escape>"};
    case ChatFormat::kGemma4Small:
    case ChatFormat::kGemma4Large:
      return {"<bos>",        "<|turn>",      "<turn|>",          "<|think|>",
              "<|channel>",   "<channel|>",   "<|tool>",          "<tool|>",
              "<|tool_call>", "<tool_call|>", "<|tool_response>", "<tool_response|>",
              "<|\"|>"};
  }
  return {};
}

}  // namespace gemma::protocol
