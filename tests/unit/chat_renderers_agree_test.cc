// The two renderers of a conversation agree: the CLI's Chat
// (runtime/turn_format.cc, turns of plain text) and the server's
// (server/protocol/chat_render*.cc, OpenAI messages with tools) write the
// same prompt, markers and text alike, for every conversation both can
// express: a system prompt or none, thinking on or off, past turns whose
// answers carry thoughts, in the Gemma 1-3n format and both Gemma 4
// variants. Each is held to the model's template by its own tests
// (chat_gemma4_test, protocol_render_test); this one catches a change made to
// one and not the other.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "runtime/turn_format.h"
#include "server/protocol/chat_render.h"

namespace gemma {
namespace {

using Pieces = std::vector<std::pair<std::string, bool>>;  // text, is a marker

// Adjacent text pieces merged, so that the two renderers' ways of splitting
// text do not count; markers stay apart.
void Add(Pieces* pieces, const std::string& text, bool marker) {
  if (text.empty()) return;
  if (!marker && !pieces->empty() && !pieces->back().second) {
    pieces->back().first += text;
  } else {
    pieces->emplace_back(text, marker);
  }
}

Pieces FromRuntime(const Prompt& prompt) {
  Pieces pieces;
  for (const PromptPiece& p : prompt) Add(&pieces, p.text, p.marker);
  return pieces;
}

Pieces FromServer(const protocol::RenderedPrompt& prompt) {
  Pieces pieces;
  for (const protocol::PromptSegment& s : prompt.segments) Add(&pieces, s.text, s.is_control);
  return pieces;
}

protocol::ChatMessage Message(protocol::Role role, const std::string& text) {
  protocol::ChatMessage m;
  m.role = role;
  m.content = {text};
  return m;
}

struct Format {
  const TurnFormat* runtime;
  protocol::ChatFormat server;
};

TEST(ChatRenderers, AgreeOnEveryConversationBothExpress) {
  const Format formats[] = {{&kGemmaTurns, protocol::ChatFormat::kGemma3},
                            {&kGemma4SmallTurns, protocol::ChatFormat::kGemma4Small},
                            {&kGemma4LargeTurns, protocol::ChatFormat::kGemma4Large}};
  // Past turns; the second answer carries a thought block and spaces around
  // it: Gemma 4's history drops the thoughts, Gemma 3's template keeps them
  // as text.
  const std::vector<PastTurn> history = {
      {"What is 2 + 2?", "4"},
      {"  And times 3?  ", "<|channel>thought\nfour times three<channel|>  12 \n"}};
  int compared = 0;
  for (const Format& format : formats) {
    for (const std::string system : {"", "You answer in one line."}) {
      for (const bool thinking : {false, true}) {
        if (thinking && !format.runtime->has_thinking()) continue;
        for (size_t past = 0; past <= history.size(); ++past) {
          std::vector<PastTurn> turns(history.begin(), history.begin() + past);
          // One deliberate difference: Gemma 1-3n's history keeps an answer
          // as generated, so that its turn's KV entries are reused, where the
          // template (and the server, rendering the client's messages) trims
          // it; a generated answer ends at <end_of_turn> and rarely has
          // whitespace to trim. Compared on answers that have none.
          if (!format.runtime->rewrite_answers_as_history) {
            for (PastTurn& t : turns) {
              while (!t.answer.empty() && (t.answer.back() == ' ' || t.answer.back() == '\n')) {
                t.answer.pop_back();
              }
            }
          }
          const std::string next = "Why?";
          const Prompt ours = RenderConversation(*format.runtime, system, thinking, turns, &next);

          std::vector<protocol::ChatMessage> messages;
          if (!system.empty()) messages.push_back(Message(protocol::Role::kSystem, system));
          for (const PastTurn& t : turns) {
            messages.push_back(Message(protocol::Role::kUser, t.user));
            messages.push_back(Message(protocol::Role::kAssistant, t.answer));
          }
          messages.push_back(Message(protocol::Role::kUser, next));
          protocol::RenderOptions options;
          options.enable_thinking = thinking;
          const auto server = protocol::RenderChat(format.server, messages, {}, options);
          ASSERT_TRUE(server.ok());

          SCOPED_TRACE(testing::Message()
                       << format.runtime->name << ", system \"" << system << "\", thinking "
                       << thinking << ", " << past << " past turns");
          EXPECT_EQ(PromptText(ours), server.value().ToString());
          EXPECT_EQ(FromRuntime(ours), FromServer(server.value()));
          ++compared;
        }
      }
    }
  }
  EXPECT_EQ(compared, 6 + 12 + 12);
}

}  // namespace
}  // namespace gemma
