// The model's vocabulary as the constrained decoder sees it: for every token id
// the bytes it contributes to the output and its kind, plus a byte trie over
// all text tokens. Built once per model and shared read-only (and thread-safe)
// by every request; the only mutable part is a cache of token classes for
// grammar pieces that many grammars share (see token_classes.h), which is
// guarded by a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gemma::constrain {

enum class TokenKind : uint8_t {
  kText,     // normal and user-defined pieces: their UTF-8 text ("▁" already a space)
  kByte,     // byte-fallback pieces <0xNN>: exactly one raw byte, maybe part of a character
  kControl,  // control, unknown and unused pieces: never text; allowed only where a grammar
             // names them as a token literal, or as end-of-generation tokens
};

// One node of the byte trie, stored in preorder: the subtree of node i is
// [i, subtree_end). Tokens whose bytes end exactly at node i are
// sorted_tokens()[token_begin(i), token_begin(i + 1)).
struct TrieNode {
  int32_t subtree_end;
  int32_t token_begin;
  uint16_t depth;  // number of bytes from the root (the root has depth 0)
  uint8_t byte;    // the byte on the edge from the parent (0 for the root)
};

class ClassCache;  // token_classes.h

class VocabIndex {
 public:
  // token_bytes[id]: the bytes the token contributes (for control tokens: the
  // piece text, used only to look tokens up by name); kinds[id]: its kind;
  // end_tokens: the end-of-generation ids (allowed exactly when the grammar is
  // complete). Throws std::invalid_argument when the sizes differ, an end
  // token is out of range, or a byte token is not exactly one byte.
  static std::shared_ptr<const VocabIndex> Build(std::vector<std::string> token_bytes,
                                                 std::vector<TokenKind> kinds,
                                                 std::vector<int32_t> end_tokens);

  VocabIndex(const VocabIndex&) = delete;
  VocabIndex& operator=(const VocabIndex&) = delete;
  ~VocabIndex();

  int32_t size() const { return static_cast<int32_t>(kinds_.size()); }
  TokenKind kind(int32_t id) const { return kinds_[id]; }
  std::string_view bytes(int32_t id) const {
    return std::string_view(blob_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
  }
  const std::vector<int32_t>& end_tokens() const { return end_tokens_; }
  bool IsEndToken(int32_t id) const;

  // The control token whose piece text is `name` (e.g. "<escape>"), or -1.
  int32_t FindControlToken(std::string_view name) const;

  // The trie: nodes()[0] is the root; one extra sentinel node at the end
  // carries token_begin for the last real node.
  const std::vector<TrieNode>& nodes() const { return nodes_; }
  int32_t num_nodes() const { return static_cast<int32_t>(nodes_.size()) - 1; }
  std::span<const int32_t> TokensAt(int32_t node) const {
    return std::span<const int32_t>(sorted_tokens_)
        .subspan(nodes_[node].token_begin,
                 nodes_[node + 1].token_begin - nodes_[node].token_begin);
  }
  // Text and byte tokens in trie order.
  const std::vector<int32_t>& sorted_tokens() const { return sorted_tokens_; }
  // Text tokens with no bytes, or too long for the trie: never allowed.
  int32_t num_excluded_tokens() const { return num_excluded_; }
  // Whether every byte value is some single-byte token: then every byte string
  // the grammar can still complete has a token sequence (Gemma: yes, through
  // the <0xNN> pieces). Without it a grammar may need a byte no token starts.
  bool covers_all_bytes() const { return covers_all_bytes_; }

  ClassCache& class_cache() const { return *class_cache_; }

 private:
  VocabIndex() = default;
  void BuildTrie();

  std::string blob_;
  std::vector<uint32_t> offsets_;  // size() + 1
  std::vector<TokenKind> kinds_;
  std::vector<int32_t> end_tokens_;  // sorted
  std::vector<std::pair<std::string_view, int32_t>> controls_;  // sorted by name
  std::vector<TrieNode> nodes_;
  std::vector<int32_t> sorted_tokens_;
  int32_t num_excluded_ = 0;
  bool covers_all_bytes_ = false;
  std::unique_ptr<ClassCache> class_cache_;
};

}  // namespace gemma::constrain
