// DetectChatFormat on template excerpts (the distinctive lines of each
// official template, as quoted in tokenizer-and-prompts.md and the files it
// cites) and on architecture/name fallbacks.
#include <gtest/gtest.h>

#include "server/protocol/chat_format.h"

namespace gemma::protocol {
namespace {

TEST(ProtocolFormatTest, TemplateMarkersDecide) {
  // Gemma 2's template: turn markers, rejects a system role.
  EXPECT_EQ(DetectChatFormat("gemma3",
                             "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ "
                             "raise_exception('System role not supported') }}{% endif %}"
                             "{{ '<start_of_turn>' + role + '\\n' }}"),
            ChatFormat::kGemma2);
  // Gemma 3's: first_user_prefix and <start_of_image>.
  EXPECT_EQ(DetectChatFormat("gemma2",
                             "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
                             "{{ '<start_of_turn>' + role + '\\n' }}{{ '<start_of_image>' }}"),
            ChatFormat::kGemma3);
  EXPECT_EQ(DetectChatFormat("gemma3n", "{{ '<start_of_turn>' }}{{ '<audio_soft_token>' }}"),
            ChatFormat::kGemma3);
  EXPECT_EQ(DetectChatFormat("gemma3",
                             "{{ '<start_of_turn>developer\\n' }}"
                             "{{ '<start_function_declaration>' }}"),
            ChatFormat::kFunctionGemma);
  // Gemma 4 31B appends the empty thought block, E2B does not.
  EXPECT_EQ(DetectChatFormat("gemma4",
                             "{{- '<|turn>model\\n' -}}{%- if not enable_thinking -%}"
                             "{{- '<|channel>thought\\n<channel|>' -}}{%- endif -%}"),
            ChatFormat::kGemma4Large);
  EXPECT_EQ(DetectChatFormat("gemma4",
                             "{{- '<|turn>model\\n' -}}"
                             "{{- '<|channel>thought\\n' -}}"),
            ChatFormat::kGemma4Small);
}

TEST(ProtocolFormatTest, ArchitectureAndNameWithoutATemplate) {
  EXPECT_EQ(DetectChatFormat("gemma", ""), ChatFormat::kGemma2);
  EXPECT_EQ(DetectChatFormat("gemma2", ""), ChatFormat::kGemma2);
  EXPECT_EQ(DetectChatFormat("gemma3", ""), ChatFormat::kGemma3);
  EXPECT_EQ(DetectChatFormat("gemma3n", ""), ChatFormat::kGemma3);
  EXPECT_EQ(DetectChatFormat("gemma3", "", "functiongemma-270m-it"), ChatFormat::kFunctionGemma);
  EXPECT_EQ(DetectChatFormat("gemma4", "", "gemma-4-E2B-it"), ChatFormat::kGemma4Small);
  EXPECT_EQ(DetectChatFormat("gemma4", "", "Gemma4 E4B"), ChatFormat::kGemma4Small);
  EXPECT_EQ(DetectChatFormat("gemma4", "", "gemma-4-31B-it"), ChatFormat::kGemma4Large);
  // "e2b" inside a longer word is not a size.
  EXPECT_EQ(DetectChatFormat("gemma4", "", "gemma-4-26b-e2bx"), ChatFormat::kGemma4Large);
  EXPECT_EQ(DetectChatFormat("llama", ""), ChatFormat::kGemma3);
}

TEST(ProtocolFormatTest, NamesRoundTripAndMarkers) {
  for (ChatFormat f : {ChatFormat::kGemma2, ChatFormat::kGemma3, ChatFormat::kFunctionGemma,
                       ChatFormat::kGemma4Small, ChatFormat::kGemma4Large}) {
    ChatFormat parsed = ChatFormat::kGemma2;
    ASSERT_TRUE(ParseChatFormatName(ChatFormatName(f), &parsed));
    EXPECT_EQ(parsed, f);
  }
  ChatFormat unused;
  EXPECT_FALSE(ParseChatFormatName("gemma5", &unused));
  EXPECT_EQ(StopMarkers(ChatFormat::kGemma4Large),
            (std::vector<std::string>{"<turn|>", "<eos>", "<|tool_response>"}));
  EXPECT_EQ(StopMarkers(ChatFormat::kFunctionGemma).back(), "<start_function_response>");
}

}  // namespace
}  // namespace gemma::protocol
