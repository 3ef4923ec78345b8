#include "server/constrain/vocab_index.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "server/constrain/token_classes.h"

namespace gemma::constrain {
namespace {

// Tokens longer than this stay out of the trie (depth is 16 bits, and the
// walks keep one level per byte). Real vocabularies stay far below: Gemma 3's
// longest piece is 93 bytes.
constexpr size_t kMaxTokenBytes = 1024;

}  // namespace

VocabIndex::~VocabIndex() = default;

std::shared_ptr<const VocabIndex> VocabIndex::Build(std::vector<std::string> token_bytes,
                                                    std::vector<TokenKind> kinds,
                                                    std::vector<int32_t> end_tokens) {
  if (token_bytes.size() != kinds.size()) {
    throw std::invalid_argument("vocabulary: " + std::to_string(token_bytes.size()) +
                                " token byte strings but " + std::to_string(kinds.size()) +
                                " token kinds");
  }
  if (token_bytes.size() >= static_cast<size_t>(INT32_MAX / 2)) {
    throw std::invalid_argument("vocabulary: too many tokens");
  }
  std::shared_ptr<VocabIndex> v(new VocabIndex());
  const int32_t n = static_cast<int32_t>(token_bytes.size());
  size_t total = 0;
  for (const std::string& b : token_bytes) total += b.size();
  if (total >= UINT32_MAX) throw std::invalid_argument("vocabulary: token bytes exceed 4 GiB");
  v->blob_.reserve(total);
  v->offsets_.reserve(n + 1);
  for (int32_t id = 0; id < n; ++id) {
    if (kinds[id] == TokenKind::kByte && token_bytes[id].size() != 1) {
      throw std::invalid_argument("vocabulary: byte token " + std::to_string(id) + " has " +
                                  std::to_string(token_bytes[id].size()) +
                                  " bytes instead of exactly one");
    }
    v->offsets_.push_back(static_cast<uint32_t>(v->blob_.size()));
    v->blob_ += token_bytes[id];
  }
  v->offsets_.push_back(static_cast<uint32_t>(v->blob_.size()));
  v->kinds_ = std::move(kinds);
  for (const int32_t id : end_tokens) {
    if (id < 0 || id >= n) {
      throw std::invalid_argument("vocabulary: end-of-generation token " + std::to_string(id) +
                                  " is outside the vocabulary of " + std::to_string(n));
    }
  }
  std::sort(end_tokens.begin(), end_tokens.end());
  end_tokens.erase(std::unique(end_tokens.begin(), end_tokens.end()), end_tokens.end());
  v->end_tokens_ = std::move(end_tokens);
  for (int32_t id = 0; id < n; ++id) {
    if (v->kinds_[id] == TokenKind::kControl) v->controls_.emplace_back(v->bytes(id), id);
  }
  // For duplicated names the lowest id wins (stable sort keeps id order).
  std::stable_sort(v->controls_.begin(), v->controls_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  v->BuildTrie();
  v->class_cache_ = std::make_unique<ClassCache>();
  return v;
}

bool VocabIndex::IsEndToken(int32_t id) const {
  return std::binary_search(end_tokens_.begin(), end_tokens_.end(), id);
}

int32_t VocabIndex::FindControlToken(std::string_view name) const {
  const auto it = std::lower_bound(controls_.begin(), controls_.end(), name,
                                   [](const auto& entry, std::string_view key) {
                                     return entry.first < key;
                                   });
  return it != controls_.end() && it->first == name ? it->second : -1;
}

// Sorting the token byte strings makes every trie node's tokens and subtree
// contiguous: a node is created for each byte past the common prefix with the
// previous token, and a node's subtree ends when a later token leaves its
// prefix.
void VocabIndex::BuildTrie() {
  std::vector<int32_t> ids;
  bool single_byte[256] = {};
  for (int32_t id = 0; id < size(); ++id) {
    if (kinds_[id] == TokenKind::kControl) continue;
    const std::string_view b = bytes(id);
    if (b.empty() || b.size() > kMaxTokenBytes) {
      ++num_excluded_;
      continue;
    }
    if (b.size() == 1) single_byte[static_cast<uint8_t>(b[0])] = true;
    ids.push_back(id);
  }
  covers_all_bytes_ = std::all_of(std::begin(single_byte), std::end(single_byte),
                                  [](bool present) { return present; });
  std::sort(ids.begin(), ids.end(), [this](int32_t a, int32_t b) {
    const std::string_view x = bytes(a), y = bytes(b);
    return x != y ? x < y : a < b;
  });
  sorted_tokens_ = ids;
  nodes_.clear();
  nodes_.push_back(TrieNode{0, 0, 0, 0});
  std::vector<int32_t> path = {0};  // path[d] = node at depth d on the current branch
  std::string_view previous;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string_view b = bytes(ids[i]);
    size_t common = 0;
    while (common < b.size() && common < previous.size() && b[common] == previous[common]) {
      ++common;
    }
    while (path.size() > common + 1) {
      nodes_[path.back()].subtree_end = static_cast<int32_t>(nodes_.size());
      path.pop_back();
    }
    for (size_t d = common; d < b.size(); ++d) {
      // A new node's tokens start at the current token (it is the first one
      // at or below this node in sorted order).
      nodes_.push_back(TrieNode{0, static_cast<int32_t>(i), static_cast<uint16_t>(d + 1),
                                static_cast<uint8_t>(b[d])});
      path.push_back(static_cast<int32_t>(nodes_.size()) - 1);
    }
    previous = b;
  }
  while (!path.empty()) {
    nodes_[path.back()].subtree_end = static_cast<int32_t>(nodes_.size());
    path.pop_back();
  }
  // The sentinel: the last real node's tokens run to the end of the list.
  nodes_.push_back(TrieNode{static_cast<int32_t>(nodes_.size()) + 1,
                            static_cast<int32_t>(ids.size()), 0, 0});
}

}  // namespace gemma::constrain
