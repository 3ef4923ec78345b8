// The chat template a model ships (Jinja text, as Hugging Face applies it):
// GGUF metadata `tokenizer.chat_template`, or in a Hugging Face folder
// chat_template.jinja or tokenizer_config.json's "chat_template". The engine
// renders Gemma's turn format itself; the template is exposed (ModelInfo) for
// `gemma info` and for a server that wants to follow a fine-tune's own format.
#pragma once

#include <string>

namespace gemma {

struct ModelSource;

struct ChatTemplate {
  std::string text;    // "" when the model ships none
  std::string origin;  // where it was read: "<file> (tokenizer.chat_template)"...
};

// Throws gemma::Error naming the file and key when a template is present but
// malformed (a number, a list without a usable entry).
ChatTemplate ReadChatTemplate(const ModelSource& source);

}  // namespace gemma
