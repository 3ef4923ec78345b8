// libFuzzer target: arbitrary bytes as a saved chat session (`gemma chat
// --session FILE`: Session::Save's header, metadata, tokens, logits and KV
// rows), loaded by Chat::Load into a chat over the bundled tiny model.
//
// Load must return a Status, never crash or throw (the public API promises
// that). A session that loads must be usable: its tokens inside the context,
// and one more token must run through the restored KV cache.
//
// Seeds: session files `gemma chat --session` writes for the same model
// (scripts/fuzz_smoke.sh makes them); their fingerprint lets the fuzzer get
// past the header check and into the body.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "fuzz_file.h"
#include "fuzz_paths.h"
#include "gemma/gemma.h"

namespace {

// The tiny model and one chat over it, made once: a session's KV cache and
// scratch cost more to allocate than a load. Each input starts from a reset
// chat, as empty as a new one.
gemma::Chat& TinyChat() {
  static const std::unique_ptr<gemma::Model> model = [] {
    gemma::ModelOptions options;
    options.threads = 1;
    options.context_length = 128;  // more than the seeds' conversations hold
    options.batch_size = 8;
    auto opened = gemma::Model::Open(FuzzRepoPath("models/tiny-gemma3.gguf"), options);
    if (!opened.ok()) {
      std::fprintf(stderr, "session_fuzz: %s\n", opened.status().message().c_str());
      std::abort();  // the fuzzer would test nothing
    }
    return std::move(opened).value();
  }();
  static gemma::Chat chat(*model);
  return chat;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzFile file(data, size);
  if (!file.ok()) return 0;
  gemma::Chat& chat = TinyChat();
  chat.Reset();
  if (!chat.Load(file.path()).ok()) {
    // A refused file leaves the session as it was (empty) or empties it.
    if (chat.session().position() != 0) std::abort();
    return 0;
  }
  gemma::Session& session = chat.session();
  if (session.position() > session.capacity()) std::abort();
  if (static_cast<int>(session.tokens().size()) != session.position()) std::abort();
  if (session.position() < session.capacity()) {
    // The restored cache must take the next token.
    const int32_t next[] = {2};
    if (!session.Append(next).ok()) std::abort();
  }
  return 0;
}
