// BPE tokenizers of the Gemma families with byte fallback and Gemma's
// special/control tokens: SentencePiece-style BPE (Gemma 1/2/3/3n) and Gemma
// 4's BPE with merges. Built from a GGUF vocabulary (pieces, scores, token
// types, merges), from a Hugging Face tokenizer.json (vocab + merges), or from
// a SentencePiece tokenizer.model. See shared spec tokenizer-and-prompts.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gemma {

// Token types as SentencePiece / GGUF number them.
enum class TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// The encoding algorithm, named after GGUF's tokenizer.ggml.model values.
enum class TokenizerModel : uint8_t {
  // "llama": SentencePiece BPE (Gemma 1/2/3/3n; spec 4.1). The whole text
  // between added tokens is one BPE word; merge priority from the merges list
  // when there is one (tokenizer.json), else from the scores.
  kSentencePiece,
  // "gemma4": Gemma 4's BPE (spec 4.2). The text between added tokens is
  // split into runs of non-newlines and runs of newlines; a newline run that
  // is a piece is emitted whole, every other run is BPE-merged by merge rank.
  // Needs merges.
  kGemma4,
};

// The GGUF name of a model ("llama", "gemma4").
const char* GgufTokenizerModelName(TokenizerModel model);

// A vocabulary in the neutral form every source converts to.
struct VocabData {
  TokenizerModel model = TokenizerModel::kSentencePiece;
  std::vector<std::string> pieces;  // index = id; SentencePiece's U+2581 kept as is
  std::vector<float> scores;        // merge priority (higher merges first); may be empty
  std::vector<TokenType> types;     // same length as pieces
  // BPE merges "left right" in priority order (tokenizer.json). When empty, the
  // scores define merge priority as in SentencePiece BPE.
  std::vector<std::pair<std::string, std::string>> merges;
  int32_t bos_id = 2;
  int32_t eos_id = 1;
  int32_t unk_id = 3;
  int32_t pad_id = 0;
  // Another id that ends generation, from GGUF tokenizer.ggml.eot_token_id
  // (end of turn); -1: none given.
  int32_t eot_id = -1;
  bool add_space_prefix = false;  // Gemma: false
  // Characters without a piece are written as <0xHH> byte pieces (Gemma: true);
  // otherwise as unk_id.
  bool byte_fallback = true;
  // Spaces become U+2581 before BPE (SentencePiece escape_whitespaces; the
  // tokenizer.json normalizer). Gemma: true.
  bool escape_whitespaces = true;
  // SentencePiece remove_extra_whitespaces: strip leading/trailing spaces and
  // collapse runs. Gemma: false.
  bool remove_extra_whitespaces = false;
  // tokenizer.json BPE options (merge mode only): a whole fragment that is a
  // piece is emitted without merging; consecutive unknown symbols share one unk.
  bool ignore_merges = false;
  bool fuse_unk = false;
};

class Tokenizer {
 public:
  // Throw gemma::Error with a message naming the file and what is wrong.
  static Tokenizer FromVocab(VocabData vocab);
  // The same, with errors naming `origin` (a file) and, for a bad merge,
  // `merges_key` (e.g. "tokenizer.ggml.merges").
  static Tokenizer FromVocab(VocabData vocab, const std::string& origin,
                             const std::string& merges_key);
  static Tokenizer FromTokenizerJson(const std::string& path);
  static Tokenizer FromTokenizerJsonText(std::string_view json_text, const std::string& origin);
  static Tokenizer FromSentencePieceModel(const std::string& path);
  static Tokenizer FromSentencePieceModelBytes(std::string_view bytes, const std::string& origin);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Text -> ids, no BOS added. With parse_special, occurrences of added tokens
  // (control and user-defined pieces such as <start_of_turn>, <bos>, <unused0>)
  // in the text are emitted as those tokens, as the reference does. Without it,
  // control pieces (<bos>, <start_of_turn>, <unused0>, <mask>...) are encoded
  // literally, so user text cannot inject them; user-defined pieces (newline
  // and space runs, HTML tags) stay atomic as in SentencePiece, which changes
  // no text. Gemma 4's tool and channel markers (<|tool_call>, <|"|>,
  // <|channel>...) are user-defined too (spec 6), so they are matched in
  // both modes, as llama.cpp does. Invalid UTF-8 never crashes: bytes that
  // are not valid UTF-8 are encoded through byte fallback.
  std::vector<int32_t> Encode(std::string_view text, bool parse_special = true) const;

  // Ids -> text. Control tokens (bos, eos, pad, <start_of_turn>...), unknown
  // and unused tokens decode to nothing unless keep_special; byte tokens are
  // fused back into UTF-8. Invalid UTF-8 comes out as U+FFFD (one per maximal
  // invalid subsequence); ids out of range are skipped.
  std::string Decode(const std::vector<int32_t>& ids, bool keep_special = false) const;

  // The raw bytes one token contributes ("▁" -> " ", <0x0A> -> "\n"); for
  // control tokens the piece text ("<end_of_turn>"); "" for ids out of range.
  std::string TokenBytes(int32_t id) const;

  // Id of an exact piece (e.g. "<end_of_turn>"), or -1.
  int32_t PieceToId(std::string_view piece) const;
  const std::string& IdToPiece(int32_t id) const;  // "" for ids out of range
  TokenType Type(int32_t id) const;                // kUnknown for ids out of range
  // True for tokens Decode drops unless keep_special (control, unknown, unused).
  bool IsSpecial(int32_t id) const;

  int32_t vocab_size() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t unk_id() const;
  int32_t pad_id() const;
  TokenizerModel model() const;

  // The piece that closes a turn, looked up by string: <turn|> (Gemma 4) or
  // <end_of_turn> (Gemma 1-3n); -1 when the vocabulary has neither.
  int32_t end_of_turn_id() const;
  // Tokens that end generation (spec 6 and 8), sorted, without duplicates:
  // eos_id, eot_id and whichever of <eos>, <end_of_turn>, <turn|> and <|tool_response>
  // (Gemma 4 stops there for the host to run the tool) the vocabulary has.
  std::vector<int32_t> EndOfGenerationIds() const;

  // The vocabulary the tokenizer was built from. For tokenizer.json the scores
  // are derived from the merge ranks (the first merge producing a piece gives
  // it the highest score), so the data also describes the vocabulary
  // SentencePiece-style, e.g. for writing a GGUF file.
  const VocabData& vocab() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Streaming decoder: feed ids one at a time, get back only complete UTF-8.
// Bytes of a character split across byte tokens are held until it completes;
// invalid sequences come out as U+FFFD. Special tokens produce nothing.
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}
  std::string Push(int32_t id);
  std::string Flush();  // whatever is pending, invalid bytes replaced

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;
};

}  // namespace gemma
