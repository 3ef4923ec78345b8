// Encoding: the special-token partition of the text and BPE on the fragments
// between added tokens: SentencePiece-style (spec tokenizer-and-prompts.md
// 4.1) in either merge-rank mode (tokenizer.json) or score mode (SentencePiece
// model, GGUF "llama"), and Gemma 4's (4.2: newline runs apart, merge ranks).
#include <algorithm>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/utf8.h"

namespace gemma {
namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581

// SentencePiece remove_extra_whitespaces: no leading or trailing spaces, and
// runs of spaces collapsed to one.
std::string CollapseSpaces(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out.push_back(c);
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

struct Symbol {
  uint32_t begin, end;  // byte range in the normalized fragment
  int32_t prev, next;   // neighbours in the linked list, -1 at the ends
  int32_t id;           // piece id, -1 when the bytes are no piece
  int32_t node;         // merge-tree node (only tracked when has_unused)
  bool alive;
};

struct Candidate {
  double priority;  // higher merges first
  int32_t left, right;
  uint32_t size;  // byte length of the merged symbol when queued
  int32_t id;     // piece id of the merged symbol
};

// Max-heap order: highest priority first, ties to the leftmost pair (the
// reference implementations' rule).
struct Lower {
  bool operator()(const Candidate& a, const Candidate& b) const {
    if (a.priority != b.priority) return a.priority < b.priority;
    return a.left > b.left;
  }
};

// Merge history for SentencePiece's re-segmentation of UNUSED pieces.
struct Node {
  uint32_t begin, end;
  int32_t id;
  int32_t left, right;  // children, -1 for an initial symbol
};

}  // namespace

void SpecialMatcher::Add(std::string_view pattern, int32_t id, bool control) {
  if (pattern.empty()) return;
  int32_t node = 0;
  for (const char ch : pattern) {
    const auto c = static_cast<unsigned char>(ch);
    const uint64_t key = static_cast<uint64_t>(node) << 8 | c;
    const auto it = edges_.find(key);
    if (it != edges_.end()) {
      node = it->second;
    } else {
      const auto next = static_cast<int32_t>(terminal_.size());
      terminal_.emplace_back();
      edges_.emplace(key, next);
      node = next;
    }
  }
  first_[static_cast<unsigned char>(pattern[0])] = true;
  if (terminal_[node].id < 0) terminal_[node] = Terminal{id, control};  // first one wins
}

int32_t SpecialMatcher::Child(int32_t node, unsigned char c) const {
  const auto it = edges_.find(static_cast<uint64_t>(node) << 8 | c);
  return it == edges_.end() ? -1 : it->second;
}

size_t SpecialMatcher::Match(std::string_view text, size_t pos, bool with_control,
                             int32_t* id) const {
  size_t best = 0;
  int32_t node = 0;
  for (size_t k = pos; k < text.size(); ++k) {
    node = Child(node, static_cast<unsigned char>(text[k]));
    if (node < 0) break;
    const Terminal& t = terminal_[node];
    if (t.id >= 0 && (with_control || !t.control)) {
      best = k - pos + 1;
      *id = t.id;
    }
  }
  return best;
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool parse_special) const {
  const Impl& m = *impl_;
  std::string collapsed;
  if (m.vocab.remove_extra_whitespaces) {
    collapsed = CollapseSpaces(text);
    text = collapsed;
  }
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  size_t start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    int32_t id = -1;
    size_t len = 0;
    if (m.specials.MayStartWith(static_cast<unsigned char>(text[pos]))) {
      len = m.specials.Match(text, pos, parse_special, &id);
    }
    if (len == 0) {
      ++pos;
      continue;
    }
    m.EncodeFragment(text.substr(start, pos - start), start == 0, &out);
    out.push_back(id);
    pos += len;
    start = pos;
  }
  m.EncodeFragment(text.substr(start), start == 0, &out);
  return out;
}

void Tokenizer::Impl::EmitBytes(std::string_view bytes, std::vector<int32_t>* out,
                                bool* last_was_unk) const {
  bool all_bytes = true;
  for (const char c : bytes) all_bytes = all_bytes && byte_ids[static_cast<unsigned char>(c)] >= 0;
  if (all_bytes) {
    for (const char c : bytes) out->push_back(byte_ids[static_cast<unsigned char>(c)]);
    *last_was_unk = false;
    return;
  }
  // No byte fallback: one unknown token per symbol (fused into the previous
  // one under tokenizer.json's fuse_unk).
  if (vocab.unk_id < 0) return;
  if (!(vocab.fuse_unk && *last_was_unk)) out->push_back(vocab.unk_id);
  *last_was_unk = true;
}

void Tokenizer::Impl::EncodeFragment(std::string_view fragment, bool at_text_start,
                                     std::vector<int32_t>* out) const {
  if (fragment.empty()) return;
  // Symbol offsets are 32-bit: a fragment of more than 1 GiB (3 GiB once
  // normalized) is encoded in slices cut at a character boundary.
  constexpr size_t kMaxFragment = size_t{1} << 30;
  if (fragment.size() > kMaxFragment) {
    size_t cut = kMaxFragment;
    while (cut > 0 && (static_cast<unsigned char>(fragment[cut]) & 0xC0) == 0x80) --cut;
    if (cut == 0) cut = kMaxFragment;
    EncodeFragment(fragment.substr(0, cut), at_text_start, out);
    EncodeFragment(fragment.substr(cut), false, out);
    return;
  }
  std::string norm;
  norm.reserve(fragment.size() + fragment.size() / 4 + 4);
  if (vocab.add_space_prefix && at_text_start) norm += kSpaceMark;
  for (const char c : fragment) {
    if (c == ' ' && vocab.escape_whitespaces) {
      norm += kSpaceMark;
    } else {
      norm.push_back(c);
    }
  }
  if (vocab.model != TokenizerModel::kGemma4) {
    EncodeWord(norm, out);
    return;
  }
  // Gemma 4 (spec 4.2): runs of [^\n]+ and [\n]+ are encoded separately, so
  // no merge crosses a line break, and a newline run the vocabulary holds
  // whole is that one piece even where no chain of merges would build it.
  const std::string_view text(norm);
  for (size_t begin = 0; begin < text.size();) {
    const bool newlines = text[begin] == '\n';
    size_t end = begin;
    while (end < text.size() && (text[end] == '\n') == newlines) ++end;
    const std::string_view run = text.substr(begin, end - begin);
    begin = end;
    if (newlines) {
      const int32_t id = Find(run);
      if (id >= 0 && vocab.types[id] != TokenType::kControl &&
          vocab.types[id] != TokenType::kUnknown) {
        out->push_back(id);
        continue;
      }
    }
    EncodeWord(run, out);
  }
}

void Tokenizer::Impl::EncodeWord(std::string_view norm, std::vector<int32_t>* out) const {
  if (norm.empty()) return;
  auto lookup = [&](uint32_t begin, uint32_t end) -> int32_t {
    return Find(norm.substr(begin, end - begin));
  };
  if (use_merges && vocab.ignore_merges) {
    if (const int32_t id = lookup(0, static_cast<uint32_t>(norm.size())); id >= 0) {
      out->push_back(id);
      return;
    }
  }

  std::vector<Symbol> sym;
  sym.reserve(norm.size());
  std::vector<Node> nodes;
  for (uint32_t pos = 0; pos < norm.size();) {
    const auto len = static_cast<uint32_t>(utf8::CharLength(norm, pos));
    const auto index = static_cast<int32_t>(sym.size());
    int32_t id = lookup(pos, pos + len);
    // A character that is a control piece is still text here (control
    // tokens come only from the special-token partition), so literal mode
    // can never produce one.
    if (id >= 0 &&
        (vocab.types[id] == TokenType::kControl || vocab.types[id] == TokenType::kUnknown)) {
      id = -1;
    }
    int32_t node = -1;
    if (has_unused && !use_merges) {
      node = static_cast<int32_t>(nodes.size());
      nodes.push_back({pos, pos + len, id, -1, -1});
    }
    sym.push_back({pos, pos + len, index - 1, -1, id, node, true});
    if (index > 0) sym[index - 1].next = index;
    pos += len;
  }

  std::vector<Candidate> heap;
  heap.reserve(sym.size() * 2);
  const std::vector<float>& scores = vocab.scores;
  auto push_pair = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const Symbol& a = sym[l];
    const Symbol& b = sym[r];
    double priority;
    int32_t id;
    if (use_merges) {
      if (a.id < 0 || b.id < 0) return;
      const MergeTable::Entry* merge = merges.Find(MergeTable::Key(a.id, b.id));
      if (merge == nullptr) return;
      priority = -static_cast<double>(merge->rank);
      id = merge->id;
    } else {
      id = lookup(a.begin, b.end);
      if (id < 0) return;
      // SentencePiece merges into normal, user-defined and unused pieces only.
      const TokenType t = vocab.types[id];
      if (t != TokenType::kNormal && t != TokenType::kUserDefined && t != TokenType::kUnused) {
        return;
      }
      // Without scores, lower ids (earlier in the vocabulary) merge first.
      priority = scores.empty() ? -static_cast<double>(id) : scores[id];
    }
    heap.push_back({priority, l, r, b.end - a.begin, id});
    std::push_heap(heap.begin(), heap.end(), Lower());
  };
  for (size_t i = 0; i + 1 < sym.size(); ++i) {
    push_pair(static_cast<int32_t>(i), static_cast<int32_t>(i + 1));
  }

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), Lower());
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol& a = sym[c.left];
    Symbol& b = sym[c.right];
    // Stale entry: one side was merged away or grew since it was queued.
    if (!a.alive || !b.alive || a.next != c.right || b.end - a.begin != c.size) continue;
    if (a.node >= 0) {
      nodes.push_back({a.begin, b.end, c.id, a.node, b.node});
      a.node = static_cast<int32_t>(nodes.size() - 1);
    }
    a.end = b.end;
    a.id = c.id;
    a.next = b.next;
    if (b.next >= 0) sym[b.next].prev = c.left;
    b.alive = false;
    push_pair(a.prev, c.left);
    push_pair(c.left, a.next);
  }

  bool last_was_unk = false;
  std::vector<int32_t> stack;
  for (int32_t i = 0; i >= 0; i = sym[i].next) {
    const Symbol& s = sym[i];
    if (s.node >= 0 && s.id >= 0 && vocab.types[s.id] == TokenType::kUnused) {
      // An UNUSED piece is never output: emit the pieces it was merged from.
      stack.assign(1, s.node);
      while (!stack.empty()) {
        const Node n = nodes[stack.back()];
        stack.pop_back();
        const bool leaf = n.left < 0;
        if (!leaf && (n.id < 0 || vocab.types[n.id] == TokenType::kUnused)) {
          stack.push_back(n.right);
          stack.push_back(n.left);
        } else if (n.id >= 0) {
          out->push_back(n.id);
          last_was_unk = false;
        } else {
          EmitBytes(norm.substr(n.begin, n.end - n.begin), out, &last_was_unk);
        }
      }
      continue;
    }
    if (s.id >= 0) {
      out->push_back(s.id);
      last_was_unk = false;
    } else {
      EmitBytes(norm.substr(s.begin, s.end - s.begin), out, &last_was_unk);
    }
  }
}

}  // namespace gemma
