// libFuzzer target for the JSON Schema compiler and the matcher. Input: a
// schema text, a NUL byte, bytes that drive a walk through the compiled
// grammar (each picks one of the allowed tokens), and optionally a second NUL
// and an earlier schema. Checks, beyond "no crash, no hang, no sanitizer
// report": the mask is never empty before the end, it agrees with Allows on
// the picked and a probed token, Accept takes what the mask allows, and a
// finished walk's text parses as JSON.
//
// Each input gets a vocabulary of its own, so that token classes shared
// between grammars (ClassCache) come only from this input and a failure
// reproduces from the input alone. The earlier schema, when there is one, is
// compiled first and all its classes computed into that cache: the walked
// grammar then reuses whatever classes its rules share with it (a cache key
// that missed the length bounds of strings was found this way).
//
//   CXX=clang++ cmake -S . -B build-fuzz -DGEMMA_BUILD_FUZZERS=ON
//   cmake --build build-fuzz --target schema_fuzz
//   build-fuzz/fuzz/schema_fuzz -max_total_time=600 -max_len=4096
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/constrain/json_schema.h"

namespace {

using gemma::constrain::TokenKind;
using gemma::constrain::VocabIndex;

// Bytes, some multi-byte pieces that straddle JSON tokens, one control token.
std::shared_ptr<const VocabIndex> NewVocab() {
  std::vector<std::string> bytes = {"<eos>"};
  std::vector<TokenKind> kinds = {TokenKind::kControl};
  for (int b = 0; b < 256; ++b) {
    bytes.push_back(std::string(1, static_cast<char>(b)));
    kinds.push_back(TokenKind::kByte);
  }
  for (const char* t :
       {"{\"", "\":",  "\",", "\"}", "\"]", "[{",    "}]",  "true", "false",    "null",
        "  ",  "\n  ", "12",  "0.",  "e+",  "\\u00", "\\n", "ab",   "\xC3\xA9", "\xF0\x9F\x98"}) {
    bytes.push_back(t);
    kinds.push_back(TokenKind::kText);
  }
  bytes.push_back("<escape>");
  kinds.push_back(TokenKind::kControl);
  return VocabIndex::Build(std::move(bytes), std::move(kinds), {0});
}

bool Bit(const std::vector<uint64_t>& mask, int32_t id) { return (mask[id >> 6] >> (id & 63)) & 1; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* split = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t schema_size = split ? static_cast<size_t>(split - data) : size;
  const std::string_view schema(reinterpret_cast<const char*>(data), schema_size);
  size_t walk_end = size;
  if (split != nullptr) {
    const void* second = std::memchr(split + 1, 0, size - schema_size - 1);
    if (second != nullptr)
      walk_end = static_cast<size_t>(static_cast<const uint8_t*>(second) - data);
  }
  gemma::constrain::SchemaOptions options;
  options.build_limits.max_states = 1 << 16;  // keep single inputs fast
  options.build_limits.max_expr_nodes = 1 << 18;
  // A subset construction stopped at the library's 2^21 members took ~1 s
  // under ASan: 2% of the corpus's inputs spent 40% of the campaign's time
  // there. The refusal is the same path at 2^17.
  options.build_limits.max_subset_members = 1 << 17;
  const std::shared_ptr<const VocabIndex> vocab_index = NewVocab();
  if (walk_end < size) {
    const std::string_view earlier(reinterpret_cast<const char*>(data) + walk_end + 1,
                                   size - walk_end - 1);
    const gemma::constrain::Constraint e =
        gemma::constrain::CompileJsonSchemaText(earlier, vocab_index, options);
    // Every class of a large grammar would cost seconds; a few thousand states are plenty.
    if (e.ok() && e.grammar && e.grammar->grammar().states().size() <= 4096)
      e.grammar->PrecomputeClasses();
  }
  const gemma::constrain::Constraint c =
      gemma::constrain::CompileJsonSchemaText(schema, vocab_index, options);
  if (!c.ok()) {
    if (c.error.empty()) std::abort();  // a failure must say why
    return 0;
  }
  if (!c.grammar) return 0;
  gemma::constrain::Matcher m(c.grammar);
  const VocabIndex& vocab = *vocab_index;
  std::vector<uint64_t> mask((vocab.size() + 63) / 64);
  std::string text;
  for (size_t i = schema_size + 1; i < walk_end && !m.finished(); ++i) {
    m.FillMask(mask);
    std::vector<int32_t> allowed;
    for (int32_t id = 0; id < vocab.size(); ++id) {
      if (Bit(mask, id)) allowed.push_back(id);
    }
    if (allowed.empty()) std::abort();  // a dead end
    const int32_t probe = static_cast<int32_t>((data[i] * 7919u) % vocab.size());
    if (m.Allows(probe) != Bit(mask, probe)) std::abort();
    const int32_t pick = allowed[data[i] % allowed.size()];
    if (!m.Allows(pick) || !m.Accept(pick)) std::abort();
    if (!c.grammar->IsEndToken(pick)) text += vocab.bytes(pick);
  }
  if (m.finished() &&
      nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false).is_discarded()) {
    std::abort();  // a complete output that is not JSON
  }
  return 0;
}
