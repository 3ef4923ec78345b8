// libFuzzer target for the tokenizer. The input bytes are used three ways:
//  1. as a SentencePiece tokenizer.model (protobuf),
//  2. as tokenizer.json text,
//  3. as text to encode with the tiny test tokenizer (both special modes),
// and every tokenizer that loads also encodes and decodes the bytes. Loading
// must either succeed or throw gemma::Error; anything else (crash, sanitizer
// report, other exception) is a bug. Encoding must round-trip the bytes.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "tokenizer/tokenizer.h"

namespace {

void Exercise(const gemma::Tokenizer& t, std::string_view text) {
  for (const bool special : {true, false}) {
    const std::vector<int32_t> ids = t.Encode(text, special);
    for (const int32_t id : ids) {
      if (id < 0 || id >= t.vocab_size()) std::abort();
      // Literal mode must never let text produce a control token (unknown
      // text may still become unk, which tokenizer.json marks special).
      if (!special && id != t.unk_id() && t.Type(id) == gemma::TokenType::kControl) std::abort();
    }
    (void)t.Decode(ids, special);
    gemma::StreamingDecoder stream(t);
    for (const int32_t id : ids) (void)stream.Push(id);
    (void)stream.Flush();
  }
}

// The tiny SentencePiece model from the test data, located through
// GEMMA_TOKENIZER_FUZZ_MODEL or the source tree this file was built from.
const gemma::Tokenizer* TinyTokenizer() {
  static const std::unique_ptr<gemma::Tokenizer> tokenizer = []() {
    const char* env = std::getenv("GEMMA_TOKENIZER_FUZZ_MODEL");
    std::string path = env != nullptr ? env : "";
    if (path.empty()) {
      const std::string here = __FILE__;
      const size_t slash = here.rfind("/fuzz/");
      if (slash != std::string::npos)
        path = here.substr(0, slash) + "/tests/data/tokenizer/tiny-tokenizer.model";
    }
    try {
      return std::make_unique<gemma::Tokenizer>(gemma::Tokenizer::FromSentencePieceModel(path));
    } catch (const gemma::Error&) {
      return std::unique_ptr<gemma::Tokenizer>();
    }
  }();
  return tokenizer.get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto t = gemma::Tokenizer::FromSentencePieceModelBytes(bytes, "fuzz.model");
    Exercise(t, bytes);
  } catch (const gemma::Error&) {
  }
  try {
    const auto t = gemma::Tokenizer::FromTokenizerJsonText(bytes, "fuzz.json");
    Exercise(t, bytes);
  } catch (const gemma::Error&) {
  }
  if (const gemma::Tokenizer* tiny = TinyTokenizer()) {
    Exercise(*tiny, bytes);
    // Without U+2581 (which decodes to a space) the token bytes are the input.
    if (bytes.find("\xE2\x96\x81") == std::string_view::npos) {
      std::string joined;
      for (const int32_t id : tiny->Encode(bytes)) joined += tiny->TokenBytes(id);
      if (joined != bytes) std::abort();
    }
  }
  return 0;
}
