// Tokenizer construction from VocabData, the public accessors and decoding.
// Encoding (special-token partition and BPE) is in bpe.cc; the file loaders
// are in sentencepiece_model.cc and tokenizer_json.cc.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <functional>
#include <limits>

#include "base/error.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/utf8.h"

namespace gemma {
namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, SentencePiece's space

bool ValidType(TokenType t) {
  const auto v = static_cast<int32_t>(t);
  return v >= static_cast<int32_t>(TokenType::kNormal) &&
         v <= static_cast<int32_t>(TokenType::kByte);
}

void CheckId(const std::string& where, const char* name, int32_t id, size_t n) {
  if (id < -1 || id >= static_cast<int64_t>(n)) {
    Fail(where, ": ", name, " ", id, " is out of range (vocabulary of ", n, " pieces)");
  }
}

// Gemma 4's channel, tool-call and string markers are rendered in output text
// (the chat parser needs them), so they are USER_DEFINED whatever the source
// says: llama.cpp's converter types them so, while tokenizer.json flags them
// special (which would make them CONTROL).
void MakeGemma4MarkersVisible(const PieceIndex& index, VocabData* v) {
  static constexpr std::string_view kVisible[] = {
      "<|channel>",       "<channel|>",       "<|tool_call>", "<tool_call|>",
      "<|tool_response>", "<tool_response|>", "<|\"|>"};
  for (const std::string_view piece : kVisible) {
    const int32_t id = index.Find(v->pieces, piece);
    if (id >= 0 && v->types[id] == TokenType::kControl) v->types[id] = TokenType::kUserDefined;
  }
}

}  // namespace

const char* GgufTokenizerModelName(TokenizerModel model) {
  return model == TokenizerModel::kGemma4 ? "gemma4" : "llama";
}

bool ParseBytePiece(std::string_view piece, uint8_t* value) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return false;
  int v = 0;
  for (int k = 3; k < 5; ++k) {
    const char c = piece[k];
    v <<= 4;
    if (c >= '0' && c <= '9') {
      v |= c - '0';
    } else if (c >= 'A' && c <= 'F') {
      v |= c - 'A' + 10;
    } else {
      return false;
    }
  }
  *value = static_cast<uint8_t>(v);
  return true;
}

bool LooksSpecial(std::string_view p) {
  auto wrapped = [&](std::string_view open, std::string_view close) {
    return p.size() >= open.size() + close.size() && p.substr(0, open.size()) == open &&
           p.substr(p.size() - close.size()) == close;
  };
  return p == "<mask>" || p == "[@BOS@]" || wrapped("<|", "|>") || wrapped("<unused", ">");
}

// Resolves tokenizer.json merges to ids. Scores are derived when the source
// had none: the first (highest-priority) merge producing a piece gives it
// score -rank, the same order SentencePiece's scores encode; pieces no merge
// produces get the lowest score.
void PieceIndex::Build(const std::vector<std::string>& pieces) {
  size_t capacity = 16;
  while (capacity < pieces.size() * 2) capacity *= 2;
  slots_.assign(capacity, Slot{0, -1});
  mask_ = capacity - 1;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const std::string& piece = pieces[i];
    if (piece.empty()) continue;  // placeholder rows (ids no source defined)
    const size_t h = std::hash<std::string_view>{}(piece);
    const auto tag = static_cast<uint32_t>(h >> 32);
    for (size_t pos = h & mask_;; pos = (pos + 1) & mask_) {
      Slot& slot = slots_[pos];
      if (slot.id < 0) {
        slot = Slot{tag, static_cast<int32_t>(i)};
        break;
      }
      if (slot.tag == tag && pieces[slot.id] == piece) break;  // duplicate: keep the lower id
    }
  }
}

int32_t PieceIndex::Find(const std::vector<std::string>& pieces, std::string_view s) const {
  if (slots_.empty()) return -1;
  const size_t h = std::hash<std::string_view>{}(s);
  const auto tag = static_cast<uint32_t>(h >> 32);
  for (size_t pos = h & mask_;; pos = (pos + 1) & mask_) {
    const Slot& slot = slots_[pos];
    if (slot.id < 0) return -1;
    if (slot.tag == tag && pieces[slot.id] == s) return slot.id;
  }
}

void MergeTable::Reserve(size_t n) {
  size_t capacity = 16;
  shift_ = 60;
  while (capacity < n * 2) {
    capacity *= 2;
    --shift_;
  }
  entries_.assign(capacity, Entry{kEmpty, 0, 0});
  size_ = 0;
}

void MergeTable::Insert(uint64_t key, int32_t rank, int32_t id) {
  if ((size_ + 1) * 2 > entries_.size()) {
    // Grow (only when Reserve was too small): re-insert into a table twice as large.
    std::vector<Entry> old = std::move(entries_);
    Reserve(old.size());
    for (const Entry& e : old) {
      if (e.key != kEmpty) Insert(e.key, e.rank, e.id);
    }
  }
  const size_t mask = entries_.size() - 1;
  for (size_t pos = Home(key);; pos = (pos + 1) & mask) {
    Entry& e = entries_[pos];
    if (e.key == key) return;
    if (e.key == kEmpty) {
      e = Entry{key, rank, id};
      ++size_;
      return;
    }
  }
}

const MergeTable::Entry* MergeTable::Find(uint64_t key) const {
  if (entries_.empty()) return nullptr;
  const size_t mask = entries_.size() - 1;
  for (size_t pos = Home(key);; pos = (pos + 1) & mask) {
    const Entry& e = entries_[pos];
    if (e.key == key) return &e;
    if (e.key == kEmpty) return nullptr;
  }
}

void Tokenizer::Impl::BuildMerges(const std::string& where, const std::string& merges_key) {
  VocabData& v = vocab;
  const size_t n = v.pieces.size();
  const bool derive_scores = v.scores.empty();
  if (derive_scores) v.scores.assign(n, -static_cast<float>(v.merges.size()) - 1.0f);
  std::vector<bool> scored(n, false);
  merges.Reserve(v.merges.size());
  std::string joined;
  for (size_t rank = 0; rank < v.merges.size(); ++rank) {
    const auto& [left, right] = v.merges[rank];
    const int32_t l = Find(left);
    const int32_t r = Find(right);
    joined.assign(left).append(right);
    const int32_t id = Find(joined);
    if (l < 0 || r < 0 || id < 0) {
      Fail(where, ": ", merges_key, "[", rank, "] (\"", left.substr(0, 40), "\" + \"",
           right.substr(0, 40), "\"): ",
           l < 0   ? "left piece"
           : r < 0 ? "right piece"
                   : "merged piece",
           " is not in the vocabulary");
    }
    // Merging into a control piece would let plain text produce one; no
    // Gemma merge does.
    const TokenType t = v.types[id];
    if (t != TokenType::kControl && t != TokenType::kUnknown) {
      merges.Insert(MergeTable::Key(l, r), static_cast<int32_t>(rank), id);
    }
    if (derive_scores && !scored[id]) {
      scored[id] = true;
      v.scores[id] = -static_cast<float>(rank);
    }
  }
  use_merges = true;
}

std::unique_ptr<Tokenizer::Impl> Tokenizer::Impl::Create(VocabData vocab, BuildOptions options) {
  const std::string where = options.origin.empty() ? "tokenizer vocabulary" : options.origin;
  auto m = std::make_unique<Impl>();
  VocabData& v = m->vocab;
  v = std::move(vocab);
  const size_t n = v.pieces.size();
  if (n == 0) Fail(where, ": the vocabulary is empty");
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max() / 2)) {
    Fail(where, ": the vocabulary has too many pieces (", n, ")");
  }
  if (v.types.size() != n) Fail(where, ": ", v.types.size(), " token types for ", n, " pieces");
  if (!v.scores.empty() && v.scores.size() != n) {
    Fail(where, ": ", v.scores.size(), " scores for ", n, " pieces");
  }
  for (size_t i = 0; i < n; ++i) {
    if (!ValidType(v.types[i])) {
      Fail(where, ": token ", i, " has invalid type ", static_cast<int32_t>(v.types[i]));
    }
  }
  CheckId(where, "bos id", v.bos_id, n);
  CheckId(where, "eos id", v.eos_id, n);
  CheckId(where, "unk id", v.unk_id, n);
  CheckId(where, "pad id", v.pad_id, n);
  CheckId(where, "eot id", v.eot_id, n);

  m->piece_index.Build(v.pieces);
  if (v.model == TokenizerModel::kGemma4) {
    if (v.merges.empty()) Fail(where, ": a Gemma 4 vocabulary needs its BPE merges (none given)");
    if (v.bos_id < 0) Fail(where, ": a Gemma 4 vocabulary needs a <bos> token (none found)");
    if (v.add_space_prefix || v.remove_extra_whitespaces || !v.escape_whitespaces) {
      Fail(where, ": a Gemma 4 vocabulary replaces spaces by U+2581 and adds no prefix");
    }
    MakeGemma4MarkersVisible(m->piece_index, &v);
  }
  m->byte_ids.fill(-1);
  for (size_t i = 0; i < n; ++i) {
    const std::string& piece = v.pieces[i];
    if (piece.empty()) continue;  // placeholder rows (ids no source defined)
    const auto id = static_cast<int32_t>(i);
    switch (v.types[i]) {
      case TokenType::kByte: {
        uint8_t b;
        if (ParseBytePiece(piece, &b) && m->byte_ids[b] < 0) m->byte_ids[b] = id;
        break;
      }
      case TokenType::kControl:
      case TokenType::kUnknown:
        m->specials.Add(piece, id, /*control=*/true);
        break;
      case TokenType::kUserDefined:
        m->specials.Add(piece, id, /*control=*/false);
        break;
      case TokenType::kUnused:
        m->has_unused = true;
        break;
      case TokenType::kNormal:
        break;
    }
  }
  if (!v.byte_fallback) m->byte_ids.fill(-1);
  for (const auto& [pattern, id] : options.extra_special_patterns) {
    if (id < 0 || id >= static_cast<int64_t>(n) || pattern.empty()) continue;
    m->specials.Add(pattern, id, v.types[id] != TokenType::kUserDefined);
  }
  if (!v.merges.empty()) m->BuildMerges(where, options.merges_key);
  return m;
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::FromVocab(VocabData vocab) {
  return Tokenizer(Impl::Create(std::move(vocab), BuildOptions{}));
}

Tokenizer Tokenizer::FromVocab(VocabData vocab, const std::string& origin,
                               const std::string& merges_key) {
  BuildOptions options;
  options.origin = origin;
  options.merges_key = merges_key;
  return Tokenizer(Impl::Create(std::move(vocab), std::move(options)));
}

int32_t Tokenizer::PieceToId(std::string_view piece) const { return impl_->Find(piece); }

const std::string& Tokenizer::IdToPiece(int32_t id) const {
  static const std::string kEmpty;
  if (id < 0 || id >= vocab_size()) return kEmpty;
  return impl_->vocab.pieces[id];
}

TokenType Tokenizer::Type(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return TokenType::kUnknown;
  return impl_->vocab.types[id];
}

bool Tokenizer::IsSpecial(int32_t id) const {
  const TokenType t = Type(id);
  return t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUnused;
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->vocab.pieces.size()); }
int32_t Tokenizer::bos_id() const { return impl_->vocab.bos_id; }
int32_t Tokenizer::eos_id() const { return impl_->vocab.eos_id; }
int32_t Tokenizer::unk_id() const { return impl_->vocab.unk_id; }
int32_t Tokenizer::pad_id() const { return impl_->vocab.pad_id; }
const VocabData& Tokenizer::vocab() const { return impl_->vocab; }
TokenizerModel Tokenizer::model() const { return impl_->vocab.model; }

int32_t Tokenizer::end_of_turn_id() const {
  if (const int32_t id = PieceToId("<turn|>"); id >= 0) return id;
  return PieceToId("<end_of_turn>");
}

std::vector<int32_t> Tokenizer::EndOfGenerationIds() const {
  std::vector<int32_t> ids;
  if (eos_id() >= 0) ids.push_back(eos_id());
  if (impl_->vocab.eot_id >= 0) ids.push_back(impl_->vocab.eot_id);
  for (const char* piece : {"<eos>", "<end_of_turn>", "<turn|>", "<|tool_response>"}) {
    if (const int32_t id = PieceToId(piece); id >= 0) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::string Tokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  const std::string& piece = impl_->vocab.pieces[id];
  uint8_t b;
  if (impl_->vocab.types[id] == TokenType::kByte && ParseBytePiece(piece, &b)) {
    return std::string(1, static_cast<char>(b));
  }
  std::string out;
  out.reserve(piece.size());
  size_t pos = 0;
  for (size_t hit; (hit = piece.find(kSpaceMark, pos)) != std::string::npos;) {
    out.append(piece, pos, hit - pos).push_back(' ');
    pos = hit + kSpaceMark.size();
  }
  out.append(piece, pos);
  return out;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool keep_special) const {
  // Concatenate raw bytes first so that runs of byte tokens fuse into UTF-8,
  // then repair whatever is still invalid.
  std::string bytes;
  for (const int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    if (IsSpecial(id)) {
      if (keep_special) bytes += impl_->vocab.pieces[id];
      continue;
    }
    bytes += TokenBytes(id);
  }
  std::string out;
  out.reserve(bytes.size());
  utf8::AppendValid(bytes, /*final=*/true, &out);
  return out;
}

std::string StreamingDecoder::Push(int32_t id) {
  if (id < 0 || id >= tokenizer_->vocab_size() || tokenizer_->IsSpecial(id)) return {};
  pending_ += tokenizer_->TokenBytes(id);
  std::string out;
  const size_t used = utf8::AppendValid(pending_, /*final=*/false, &out);
  pending_.erase(0, used);
  return out;
}

std::string StreamingDecoder::Flush() {
  std::string out;
  utf8::AppendValid(pending_, /*final=*/true, &out);
  pending_.clear();
  return out;
}

}  // namespace gemma
