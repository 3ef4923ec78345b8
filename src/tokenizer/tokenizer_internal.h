// Internals shared by the tokenizer's source files: the built tokenizer state
// (Tokenizer::Impl) and the loaders' hand-over to it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace gemma {

// Piece string -> id, as an open-addressing table of (hash tag, id) slots;
// the strings themselves stay in VocabData::pieces. BPE looks up every
// candidate pair, and a flat probe sequence costs far fewer cache misses than
// std::unordered_map's linked nodes (about 2x faster encoding on 262k pieces).
class PieceIndex {
 public:
  // Indexes every non-empty piece; for duplicates the lowest id wins.
  void Build(const std::vector<std::string>& pieces);
  int32_t Find(const std::vector<std::string>& pieces, std::string_view s) const;

 private:
  struct Slot {
    uint32_t tag;
    int32_t id;  // -1: empty
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

// (left id, right id) -> merge rank and result id, open addressing as above.
class MergeTable {
 public:
  struct Entry {
    uint64_t key;  // left << 32 | right; kEmpty when unused
    int32_t rank;
    int32_t id;
  };
  static uint64_t Key(int32_t left, int32_t right) {
    return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 | static_cast<uint32_t>(right);
  }
  void Reserve(size_t n);
  // Keeps an existing entry: a repeated merge cannot lower its priority.
  void Insert(uint64_t key, int32_t rank, int32_t id);
  const Entry* Find(uint64_t key) const;
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  size_t Home(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  std::vector<Entry> entries_;
  int shift_ = 64;
  size_t size_ = 0;
};

// Finds added tokens (control and user-defined pieces) inside text: the
// longest match at the leftmost position, as Hugging Face's added-vocabulary
// matcher and llama.cpp's special-token partition do. A byte trie keeps this
// linear in the text length for thousands of patterns.
class SpecialMatcher {
 public:
  void Add(std::string_view pattern, int32_t id, bool control);
  // Length of the longest pattern starting at text[pos] (0 if none); control
  // patterns only count when `with_control`.
  size_t Match(std::string_view text, size_t pos, bool with_control, int32_t* id) const;
  bool MayStartWith(unsigned char c) const { return first_[c]; }
  bool empty() const { return terminal_.size() <= 1; }

 private:
  struct Terminal {
    int32_t id = -1;
    bool control = false;
  };
  int32_t Child(int32_t node, unsigned char c) const;

  std::unordered_map<uint64_t, int32_t> edges_;    // (node << 8 | byte) -> node
  std::vector<Terminal> terminal_ = {Terminal{}};  // per node; node 0 = root
  std::array<bool, 256> first_{};
};

// What a loader knows beyond VocabData.
struct BuildOptions {
  std::string origin;  // file name for error messages ("" for FromVocab)
  // Where the merges came from, for error messages ("model.merges",
  // "tokenizer.ggml.merges").
  std::string merges_key = "merges";
  // Extra strings matched in text as an added token. SentencePiece matches
  // user-defined pieces after spaces became U+2581, so a piece "▁▁" must also
  // match two plain spaces.
  std::vector<std::pair<std::string, int32_t>> extra_special_patterns;
};

struct Tokenizer::Impl {
  // Validates `vocab` and builds the lookup tables; throws gemma::Error.
  static std::unique_ptr<Impl> Create(VocabData vocab, BuildOptions options);

  // Resolves vocab.merges to ids (merge mode); derives scores if absent.
  void BuildMerges(const std::string& where, const std::string& merges_key);
  // Normalizes the text between two added tokens and encodes it: as one BPE
  // word (SentencePiece), or as Gemma 4's newline / non-newline runs.
  void EncodeFragment(std::string_view fragment, bool at_text_start,
                      std::vector<int32_t>* out) const;
  // BPE on one normalized word, then byte fallback for what is no piece.
  void EncodeWord(std::string_view word, std::vector<int32_t>* out) const;
  void EmitBytes(std::string_view bytes, std::vector<int32_t>* out, bool* last_was_unk) const;

  VocabData vocab;
  PieceIndex piece_index;
  int32_t Find(std::string_view piece) const { return piece_index.Find(vocab.pieces, piece); }
  SpecialMatcher specials;
  MergeTable merges;  // merge mode (tokenizer.json)
  bool use_merges = false;
  // Score mode: whether any mergeable piece is UNUSED (SentencePiece splits
  // such pieces back into the two symbols they were merged from).
  bool has_unused = false;
  std::array<int32_t, 256> byte_ids{};  // -1 where the vocabulary has no <0xHH>
};

// True for "<0x00>".."<0xFF>" (uppercase hex, as SentencePiece writes them).
bool ParseBytePiece(std::string_view piece, uint8_t* value);

// A Hugging Face added token that is not flagged special but is still a
// control token by convention (llama.cpp's converter treats them so): <mask>,
// [@BOS@], <unused…>, <|…|>.
bool LooksSpecial(std::string_view piece);

}  // namespace gemma
