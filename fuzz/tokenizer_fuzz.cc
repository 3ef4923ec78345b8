// libFuzzer target for the tokenizer. The input bytes are used six ways:
//  1. as a SentencePiece tokenizer.model (protobuf),
//  2. as tokenizer.json text,
//  3. as a GGUF file whose metadata holds a vocabulary ("llama" or "gemma4"),
//  4. as text to encode with the tiny SentencePiece test tokenizer,
//  5. as text to encode with the tiny Gemma 4 BPE test tokenizer,
//  6. as a merge list added to the tiny Gemma 4 vocabulary (pairs of piece
//     indices; each merged piece is added) and text to encode with it,
// and every tokenizer that loads also encodes and decodes the bytes (both
// special modes). Loading must either succeed or throw gemma::Error; anything
// else (crash, sanitizer report, other exception) is a bug. Encoding with the
// test tokenizers must round-trip the bytes.
// Ways 1-3 parse every input whole. Of ways 4-6 each input takes one (by its
// size) with at most its first kMaxText bytes: encoding and decoding are most
// of the cost (7.6 KB through five tokenizers ran at ~100 inputs/s under
// ASan), and a campaign of millions of inputs needs them cheaper.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "fuzz_file.h"
#include "io/gguf.h"
#include "runtime/tokenizer_loader.h"
#include "tokenizer/tokenizer.h"

namespace {

constexpr size_t kMaxText = 2048;

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

// A file of tests/data/tokenizer, located through GEMMA_TOKENIZER_FUZZ_DATA
// (that folder) or the source tree this file was built from.
std::string TestData(const std::string& name) {
  const char* env = std::getenv("GEMMA_TOKENIZER_FUZZ_DATA");
  if (env != nullptr && *env != '\0') return std::string(env) + "/" + name;
  const std::string here = __FILE__;
  const size_t slash = here.rfind("/fuzz/");
  if (slash == std::string::npos) return name;
  return here.substr(0, slash) + "/tests/data/tokenizer/" + name;
}

// The tiny SentencePiece model from the test data.
const gemma::Tokenizer* TinyTokenizer() {
  static const std::unique_ptr<gemma::Tokenizer> tokenizer = []() {
    try {
      return std::make_unique<gemma::Tokenizer>(
          gemma::Tokenizer::FromSentencePieceModel(TestData("tiny-tokenizer.model")));
    } catch (const gemma::Error&) {
      return std::unique_ptr<gemma::Tokenizer>();
    }
  }();
  return tokenizer.get();
}

// The tiny Gemma 4 BPE vocabulary from the test data.
const gemma::Tokenizer* TinyGemma4() {
  static const std::unique_ptr<gemma::Tokenizer> tokenizer = []() {
    try {
      return std::make_unique<gemma::Tokenizer>(
          gemma::Tokenizer::FromTokenizerJson(TestData("gemma4-tiny-tokenizer.json")));
    } catch (const gemma::Error&) {
      return std::unique_ptr<gemma::Tokenizer>();
    }
  }();
  return tokenizer.get();
}

// Without U+2581 (which decodes to a space) the token bytes are the input.
void CheckRoundTrip(const gemma::Tokenizer& t, std::string_view bytes) {
  if (bytes.find("\xE2\x96\x81") != std::string_view::npos) return;
  for (const bool special : {true, false}) {
    std::string joined;
    for (const int32_t id : t.Encode(bytes, special)) joined += t.TokenBytes(id);
    if (joined != bytes) std::abort();
  }
}

// The Gemma 4 test vocabulary with merges taken from the input: the first
// byte says how many (up to 32), then each pair of bytes names a left and a
// right piece (modulo the vocabulary size); their concatenation is added as a
// piece when it is none. The rest of the input is the text.
void FuzzGemma4Merges(std::string_view bytes) {
  const gemma::Tokenizer* base = TinyGemma4();
  if (base == nullptr || bytes.empty()) return;
  gemma::VocabData v = base->vocab();
  const size_t count = static_cast<uint8_t>(bytes[0]) % 33;
  size_t pos = 1;
  for (size_t k = 0; k < count && pos + 1 < bytes.size(); ++k, pos += 2) {
    const size_t n = v.pieces.size();
    const std::string left = v.pieces[static_cast<uint8_t>(bytes[pos]) % n];
    const std::string right = v.pieces[static_cast<uint8_t>(bytes[pos + 1]) % n];
    const std::string joined = left + right;
    bool known = false;
    for (const std::string& p : v.pieces) known = known || p == joined;
    if (!known) {
      v.pieces.push_back(joined);
      v.types.push_back(gemma::TokenType::kNormal);
      if (!v.scores.empty()) v.scores.push_back(0.0f);
    }
    v.merges.emplace_back(left, right);
  }
  const std::string_view text = bytes.substr(std::min(pos, bytes.size()));
  try {
    const gemma::Tokenizer t = gemma::Tokenizer::FromVocab(std::move(v), "fuzz", "merges");
    Exercise(t, text);
  } catch (const gemma::Error&) {
  }
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
  // Only bytes that begin as a GGUF file go through the file path: any other
  // is refused at its magic (gguf_fuzz covers that), and the in-memory file
  // and its mapping were a quarter of this target's time.
  if (bytes.starts_with("GGUF")) {
    if (FuzzFile file(data, size); file.ok()) {
      try {
        const gemma::GgufFile gguf(file.path());
        Exercise(gemma::TokenizerFromGguf(gguf), bytes);
      } catch (const gemma::Error&) {
      }
    }
  }
  const std::string_view text = bytes.substr(0, kMaxText);
  switch (size % 3) {
    case 0:
      if (const gemma::Tokenizer* tiny = TinyTokenizer()) {
        Exercise(*tiny, text);
        CheckRoundTrip(*tiny, text);
      }
      break;
    case 1:
      if (const gemma::Tokenizer* gemma4 = TinyGemma4()) {
        Exercise(*gemma4, text);
        CheckRoundTrip(*gemma4, text);
      }
      break;
    default:
      FuzzGemma4Merges(text);
  }
  return 0;
}
