// SentencePiece tokenizer.model loader: a minimal reader of the protobuf wire
// format for the few ModelProto fields the encoder needs (spec
// tokenizer-and-prompts.md 3). Every length and offset is checked against the
// input, so a malformed file gives a gemma::Error, never an out-of-bounds read.
#include <cstring>

#include "base/error.h"
#include "base/mapped_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"

namespace gemma {
namespace {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// Reads one protobuf message. `what` names the message in error messages.
class WireReader {
 public:
  WireReader(std::string_view data, const std::string& origin, std::string what)
      : data_(data), origin_(origin), what_(std::move(what)) {}

  bool done() const { return pos_ >= data_.size(); }

  // The next field's number and wire type.
  void NextKey(uint32_t* field, uint32_t* wire) {
    const size_t at = pos_;
    const uint64_t key = Varint();
    *field = static_cast<uint32_t>(key >> 3);
    *wire = static_cast<uint32_t>(key & 7);
    if (*field == 0 || key >> 3 > 0x1FFFFFFF) Error(at, "invalid field number");
  }

  uint64_t Varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) Error(pos_, "truncated varint");
      const auto byte = static_cast<uint8_t>(data_[pos_++]);
      value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    Error(pos_, "varint longer than 10 bytes");
  }

  std::string_view Bytes() {
    const size_t at = pos_;
    const uint64_t len = Varint();
    if (len > data_.size() - pos_) {
      Error(at, "length " + std::to_string(len) + " runs past the end (" +
                    std::to_string(data_.size() - pos_) + " bytes left)");
    }
    const std::string_view out = data_.substr(pos_, len);
    pos_ += len;
    return out;
  }

  float Float() {
    if (data_.size() - pos_ < 4) Error(pos_, "truncated 32-bit value");
    uint32_t bits = 0;
    for (int k = 0; k < 4; ++k)
      bits |= static_cast<uint32_t>(static_cast<uint8_t>(data_[pos_ + k])) << (8 * k);
    pos_ += 4;
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
  }

  // Skips a field we do not use (unknown fields are legal in protobuf).
  void Skip(uint32_t wire) {
    switch (wire) {
      case kVarint:
        Varint();
        return;
      case kFixed64:
        if (data_.size() - pos_ < 8) Error(pos_, "truncated 64-bit value");
        pos_ += 8;
        return;
      case kLengthDelimited:
        Bytes();
        return;
      case kFixed32:
        Float();
        return;
      default:
        Error(pos_, "unsupported wire type " + std::to_string(wire));
    }
  }

  void Expect(uint32_t field, uint32_t wire, uint32_t expected) {
    if (wire != expected) {
      Error(pos_, "field " + std::to_string(field) + " has wire type " + std::to_string(wire) +
                      ", expected " + std::to_string(expected));
    }
  }

  int32_t Int32(uint32_t field, uint32_t wire) {
    Expect(field, wire, kVarint);
    // int32 fields are sign-extended to 64 bits on the wire; truncation is
    // what protobuf parsers do.
    return static_cast<int32_t>(static_cast<uint32_t>(Varint()));
  }

  bool Bool(uint32_t field, uint32_t wire) {
    Expect(field, wire, kVarint);
    return Varint() != 0;
  }

  [[noreturn]] void Error(size_t at, const std::string& message) const {
    Fail(origin_, ": not a valid SentencePiece model: ", what_, ", byte ", at, ": ", message);
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  const std::string& origin_;
  std::string what_;
};

// The fields of sentencepiece_model.proto this loader uses, with proto2
// defaults where they differ from zero.
struct TrainerSpec {
  int32_t model_type = 1;  // UNIGRAM
  bool byte_fallback = false;
  int32_t unk_id = 0;
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t pad_id = -1;
};

struct NormalizerSpec {
  std::string name;
  bool has_charsmap = false;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

void ParsePiece(std::string_view bytes, size_t index, const std::string& origin, VocabData* v) {
  WireReader r(bytes, origin, "piece " + std::to_string(index));
  std::string piece;
  float score = 0.0f;
  int32_t type = static_cast<int32_t>(TokenType::kNormal);
  while (!r.done()) {
    uint32_t field, wire;
    r.NextKey(&field, &wire);
    if (field == 1) {
      r.Expect(field, wire, kLengthDelimited);
      piece = r.Bytes();
    } else if (field == 2) {
      r.Expect(field, wire, kFixed32);
      score = r.Float();
    } else if (field == 3) {
      type = r.Int32(field, wire);
    } else {
      r.Skip(wire);
    }
  }
  if (type < static_cast<int32_t>(TokenType::kNormal) ||
      type > static_cast<int32_t>(TokenType::kByte)) {
    Fail(origin, ": piece ", index, " has unknown type ", type);
  }
  v->pieces.push_back(std::move(piece));
  v->scores.push_back(score);
  v->types.push_back(static_cast<TokenType>(type));
}

// Embedded messages that occur more than once are merged field by field, as
// protobuf does; parsing each occurrence into the same struct does that.
void ParseTrainerSpec(std::string_view bytes, const std::string& origin, TrainerSpec* t) {
  WireReader r(bytes, origin, "trainer_spec");
  while (!r.done()) {
    uint32_t field, wire;
    r.NextKey(&field, &wire);
    switch (field) {
      case 3:
        t->model_type = r.Int32(field, wire);
        break;
      case 35:
        t->byte_fallback = r.Bool(field, wire);
        break;
      case 40:
        t->unk_id = r.Int32(field, wire);
        break;
      case 41:
        t->bos_id = r.Int32(field, wire);
        break;
      case 42:
        t->eos_id = r.Int32(field, wire);
        break;
      case 43:
        t->pad_id = r.Int32(field, wire);
        break;
      default:
        r.Skip(wire);
    }
  }
}

void ParseNormalizerSpec(std::string_view bytes, const std::string& origin, NormalizerSpec* n) {
  WireReader r(bytes, origin, "normalizer_spec");
  while (!r.done()) {
    uint32_t field, wire;
    r.NextKey(&field, &wire);
    switch (field) {
      case 1:
        r.Expect(field, wire, kLengthDelimited);
        n->name = r.Bytes();
        break;
      case 2:
        r.Expect(field, wire, kLengthDelimited);
        n->has_charsmap = !r.Bytes().empty();
        break;
      case 3:
        n->add_dummy_prefix = r.Bool(field, wire);
        break;
      case 4:
        n->remove_extra_whitespaces = r.Bool(field, wire);
        break;
      case 5:
        n->escape_whitespaces = r.Bool(field, wire);
        break;
      default:
        r.Skip(wire);
    }
  }
}

}  // namespace

Tokenizer Tokenizer::FromSentencePieceModel(const std::string& path) {
  const MappedFile file(path);
  return FromSentencePieceModelBytes(
      std::string_view(reinterpret_cast<const char*>(file.data()), file.size()), path);
}

Tokenizer Tokenizer::FromSentencePieceModelBytes(std::string_view bytes,
                                                 const std::string& origin) {
  VocabData v;
  TrainerSpec trainer;
  NormalizerSpec normalizer;
  bool has_trainer = false;
  WireReader r(bytes, origin, "ModelProto");
  while (!r.done()) {
    uint32_t field, wire;
    r.NextKey(&field, &wire);
    if (field >= 1 && field <= 3) r.Expect(field, wire, kLengthDelimited);
    if (field == 1) {
      ParsePiece(r.Bytes(), v.pieces.size(), origin, &v);
    } else if (field == 2) {
      ParseTrainerSpec(r.Bytes(), origin, &trainer);
      has_trainer = true;
    } else if (field == 3) {
      ParseNormalizerSpec(r.Bytes(), origin, &normalizer);
    } else {
      r.Skip(wire);
    }
  }
  if (v.pieces.empty()) Fail(origin, ": not a SentencePiece model (no pieces)");
  if (!has_trainer) Fail(origin, ": SentencePiece model without trainer_spec");
  if (trainer.model_type != 2) {
    static const char* const kNames[] = {"?", "UNIGRAM", "BPE", "WORD", "CHAR"};
    const char* name =
        trainer.model_type >= 1 && trainer.model_type <= 4 ? kNames[trainer.model_type] : "?";
    Fail(origin, ": SentencePiece model type ", trainer.model_type, " (", name,
         ") is not supported; Gemma tokenizers are BPE (2)");
  }
  // A precompiled normalization map (e.g. nmt_nfkc) would have to be applied
  // before BPE; Gemma uses the identity rule, so anything else is refused
  // rather than silently tokenized differently.
  if (normalizer.has_charsmap) {
    Fail(origin, ": normalization rule '", normalizer.name,
         "' is not supported (only identity, as in Gemma tokenizers)");
  }
  const auto n = static_cast<int64_t>(v.pieces.size());
  auto id_or_none = [&](int32_t id) { return id >= 0 && id < n ? id : -1; };
  v.unk_id = id_or_none(trainer.unk_id);
  v.bos_id = id_or_none(trainer.bos_id);
  v.eos_id = id_or_none(trainer.eos_id);
  v.pad_id = id_or_none(trainer.pad_id);
  v.byte_fallback = trainer.byte_fallback;
  v.add_space_prefix = normalizer.add_dummy_prefix;
  v.remove_extra_whitespaces = normalizer.remove_extra_whitespaces;
  v.escape_whitespaces = normalizer.escape_whitespaces;

  // SentencePiece finds user-defined pieces in the text after spaces became
  // U+2581; since matching here runs on the raw text, a piece containing
  // U+2581 must also match the same string with plain spaces.
  BuildOptions options;
  options.origin = origin;
  if (v.escape_whitespaces) {
    for (size_t i = 0; i < v.pieces.size(); ++i) {
      const TokenType t = v.types[i];
      const std::string& p = v.pieces[i];
      if (t != TokenType::kUserDefined && t != TokenType::kControl) continue;
      if (p.find("\xE2\x96\x81") == std::string::npos) continue;
      std::string spaced;
      for (size_t k = 0; k < p.size();) {
        if (p.compare(k, 3, "\xE2\x96\x81") == 0) {
          spaced.push_back(' ');
          k += 3;
        } else {
          spaced.push_back(p[k++]);
        }
      }
      options.extra_special_patterns.emplace_back(std::move(spaced), static_cast<int32_t>(i));
    }
  }
  return Tokenizer(Impl::Create(std::move(v), std::move(options)));
}

}  // namespace gemma
