// Hugging Face tokenizer.json loader (spec tokenizer-and-prompts.md 5): a BPE
// model with vocab + merges, byte fallback, the Replace(" " -> U+2581)
// normalizer and the added tokens; Gemma 1-3n's and Gemma 4's (told apart by
// the vocabulary, see IsGemma4Vocabulary). Anything that would change how Gemma text
// is split (other normalizers, pre-tokenizers or model types) is refused with
// a gemma::Error rather than tokenized differently from the reference.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/error.h"
#include "base/mapped_file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"

namespace gemma {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581

// A piece or key for an error message: bounded, so a huge or binary value
// cannot flood the message.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  out.append(s.substr(0, 40));
  if (s.size() > 40) out += "...";
  return out + "\"";
}

// SAX handler that builds a DOM for everything except model.vocab and
// model.merges, which it streams straight into vectors: they are nearly all of
// a Gemma file (33 MB, 262k pieces, 515k merges), and a DOM of them would
// cost about a second and a few hundred MB. Containers are tracked on an
// explicit stack, so deep nesting cannot overflow the call stack.
class TokenizerJsonSax final : public nlohmann::json_sax<Json> {
 public:
  Json root;
  bool has_vocab = false;
  std::vector<std::pair<std::string, int64_t>> vocab;  // in file order
  bool has_merges = false;
  std::vector<std::pair<std::string, std::string>> merges;
  std::string error;  // why parsing stopped, when it did

  bool null() override { return Value(Json(nullptr)); }
  bool boolean(bool v) override { return Value(Json(v)); }
  bool number_integer(number_integer_t v) override { return Integer(v); }
  bool number_unsigned(number_unsigned_t v) override {
    // Out of int64 range is out of any vocabulary's range.
    return Integer(v > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(v));
  }
  bool number_float(number_float_t v, const string_t&) override { return Value(Json(v)); }
  bool binary(binary_t&) override { return Stop("binary values are not JSON"); }

  bool string(string_t& v) override {
    if (frames_.empty() || frames_.back().mode == Mode::kDom) return Value(Json(std::move(v)));
    Frame& f = frames_.back();
    if (f.mode == Mode::kVocab)
      return Stop("model.vocab[" + Quote(key_) + "]: id is not an integer");
    if (f.mode == Mode::kMergePair) {
      if (f.count >= 2) return Stop(MergeError());
      (f.count++ == 0 ? pair_.first : pair_.second) = std::move(v);
      return true;
    }
    // Older files: "left right"; pieces never contain a plain space.
    const size_t space = v.find(' ');
    if (space == std::string::npos || v.find(' ', space + 1) != std::string::npos) {
      return Stop(MergeError() + ": " + Quote(v) + " is not \"left right\"");
    }
    merges.emplace_back(v.substr(0, space), v.substr(space + 1));
    return true;
  }

  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }

  bool start_object(std::size_t) override {
    if (StreamedHere("vocab")) {
      if (has_vocab) return Stop("model.vocab appears twice");
      has_vocab = true;
      frames_.push_back({Mode::kVocab, nullptr, false});
      return true;
    }
    return OpenDom(Json::object());
  }

  bool start_array(std::size_t) override {
    if (!frames_.empty() && frames_.back().mode == Mode::kMerges) {
      frames_.push_back({Mode::kMergePair, nullptr, false});
      return true;
    }
    if (StreamedHere("merges")) {
      if (has_merges) return Stop("model.merges appears twice");
      has_merges = true;
      frames_.push_back({Mode::kMerges, nullptr, false});
      return true;
    }
    return OpenDom(Json::array());
  }

  bool end_object() override {
    frames_.pop_back();
    return true;
  }

  bool end_array() override {
    if (frames_.back().mode == Mode::kMergePair) {
      if (frames_.back().count != 2) return Stop(MergeError());
      merges.push_back(std::move(pair_));
    }
    frames_.pop_back();
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    return Stop(std::string("invalid JSON: ") + e.what());
  }

 private:
  enum class Mode { kDom, kVocab, kMerges, kMergePair };
  struct Frame {
    Mode mode;
    Json* node;     // the open DOM container (kDom only)
    bool is_model;  // this is the top-level "model" object
    int count = 0;  // strings seen in a merge pair
  };

  bool Stop(std::string message) {
    if (error.empty()) error = std::move(message);
    return false;
  }

  std::string MergeError() const {
    return "model.merges[" + std::to_string(merges.size()) +
           "] is not \"left right\" or [left, right]";
  }

  // Whether a container opening now is model.<name> of the top-level object.
  bool StreamedHere(const char* name) const {
    return !frames_.empty() && frames_.back().is_model && key_ == name;
  }

  bool Integer(int64_t v) {
    if (!frames_.empty() && frames_.back().mode == Mode::kVocab) {
      vocab.emplace_back(std::move(key_), v);
      return true;
    }
    return Value(Json(v));
  }

  // Places a value in the open DOM container; returns where it went.
  Json* Insert(Json&& v) {
    if (frames_.empty()) {
      root = std::move(v);
      return &root;
    }
    Json* parent = frames_.back().node;
    if (parent->is_object()) {
      Json& slot = (*parent)[key_];
      slot = std::move(v);
      return &slot;
    }
    parent->push_back(std::move(v));
    return &parent->back();
  }

  bool Value(Json&& v) {
    if (!frames_.empty() && frames_.back().mode != Mode::kDom) return Unexpected();
    Insert(std::move(v));
    return true;
  }

  bool OpenDom(Json&& container) {
    if (!frames_.empty() && frames_.back().mode != Mode::kDom) return Unexpected();
    const bool is_model = frames_.size() == 1 && frames_[0].node->is_object() && key_ == "model" &&
                          container.is_object();
    Json* node = Insert(std::move(container));
    frames_.push_back({Mode::kDom, node, is_model});
    return true;
  }

  bool Unexpected() {
    switch (frames_.back().mode) {
      case Mode::kVocab:
        return Stop("model.vocab[" + Quote(key_) + "]: id is not an integer");
      default:
        return Stop(MergeError());
    }
  }

  std::vector<Frame> frames_;
  std::string key_;
  std::pair<std::string, std::string> pair_;
};

class JsonLoader {
 public:
  explicit JsonLoader(const std::string& origin) : origin_(origin) {}

  VocabData Load(std::string_view text) {
    TokenizerJsonSax sax;
    if (!Json::sax_parse(text.begin(), text.end(), &sax) || !sax.error.empty()) {
      Fail(origin_, ": ", sax.error.empty() ? "invalid JSON" : sax.error);
    }
    Json& root = sax.root;
    if (!root.is_object()) Fail(origin_, ": not a tokenizer.json (top level is not an object)");
    Json* model = Member(root, "model");
    if (model == nullptr || !model->is_object()) {
      Fail(origin_, ": \"model\" is missing or not an object");
    }
    ReadModelOptions(*model);
    ReadNormalizer(root);
    ReadPreTokenizer(root);

    if (!sax.has_vocab) Fail(origin_, ": model.vocab is missing or not an object");
    if (Member(*model, "merges") != nullptr && !(*model)["merges"].is_null()) {
      Fail(origin_, ": model.merges is not an array");
    }
    Json* added = Member(root, "added_tokens");
    if (added != nullptr && !added->is_null() && !added->is_array()) {
      Fail(origin_, ": added_tokens is not an array");
    }
    const size_t added_count = added != nullptr && added->is_array() ? added->size() : 0;
    // Ids must be dense-ish: bounding them by the number of entries keeps a
    // hostile file from making us allocate billions of rows.
    limit_ = sax.vocab.size() + added_count;
    ReadVocab(sax.vocab);
    if (added_count > 0) ReadAddedTokens(*added);
    if (v_.pieces.empty()) Fail(origin_, ": the vocabulary is empty");
    FinishTypes();
    v_.merges = std::move(sax.merges);
    if (IsGemma4Vocabulary()) v_.model = TokenizerModel::kGemma4;
    return std::move(v_);
  }

 private:
  static Json* Member(Json& object, const char* key) {
    const auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
  }

  bool BoolOption(const Json& object, const char* key, const char* path, bool fallback) {
    const auto it = object.find(key);
    if (it == object.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) Fail(origin_, ": ", path, " is not a boolean");
    return it->get<bool>();
  }

  void ReadModelOptions(const Json& model) {
    if (const auto it = model.find("type"); it != model.end()) {
      if (!it->is_string() || it->get_ref<const std::string&>() != "BPE") {
        Fail(origin_, ": model.type ", it->dump().substr(0, 40),
             " is not supported (expected \"BPE\")");
      }
    }
    v_.byte_fallback = BoolOption(model, "byte_fallback", "model.byte_fallback", false);
    v_.fuse_unk = BoolOption(model, "fuse_unk", "model.fuse_unk", false);
    v_.ignore_merges = BoolOption(model, "ignore_merges", "model.ignore_merges", false);
    if (const auto it = model.find("unk_token"); it != model.end() && !it->is_null()) {
      if (!it->is_string()) Fail(origin_, ": model.unk_token is not a string");
      unk_token_ = it->get<std::string>();
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const auto it = model.find(key);
      if (it != model.end() && !it->is_null() &&
          !(it->is_string() && it->get_ref<const std::string&>().empty())) {
        Fail(origin_, ": model.", key, " is not supported (Gemma's BPE has none)");
      }
    }
  }

  // Accepts what Gemma files use: Replace(" " -> "▁"), optionally Prepend("▁")
  // (a dummy prefix), alone or in a Sequence. The prefix is added at the start
  // of the text only, as SentencePiece does (Hugging Face also adds it after
  // each added token; Gemma has no prefix at all).
  void ReadNormalizer(const Json& root) {
    v_.escape_whitespaces = false;
    v_.add_space_prefix = false;
    const auto it = root.find("normalizer");
    if (it != root.end()) ApplyNormalizer(*it, 0);
  }

  void ApplyNormalizer(const Json& n, int depth) {
    if (n.is_null()) return;
    const std::string type = TypeOf(n, "normalizer");
    if (type == "Sequence" && depth < 4) {
      const auto it = n.find("normalizers");
      if (it == n.end() || !it->is_array())
        Fail(origin_, ": normalizer Sequence without a normalizers array");
      for (const Json& child : *it) ApplyNormalizer(child, depth + 1);
      return;
    }
    if (type == "Replace") {
      const auto pattern = n.find("pattern");
      const auto content = n.find("content");
      const bool ok = pattern != n.end() && pattern->is_object() && pattern->contains("String") &&
                      (*pattern)["String"] == " " && content != n.end() &&
                      *content == std::string(kSpaceMark);
      if (!ok) Fail(origin_, ": normalizer Replace is only supported for \" \" -> \"\u2581\"");
      v_.escape_whitespaces = true;
      return;
    }
    if (type == "Prepend") {
      const auto prepend = n.find("prepend");
      if (prepend == n.end() || *prepend != std::string(kSpaceMark)) {
        Fail(origin_, ": normalizer Prepend is only supported for \"\u2581\"");
      }
      v_.add_space_prefix = true;
      return;
    }
    Fail(origin_, ": normalizer type ", Quote(type),
         " is not supported (Gemma uses Replace \" \" -> \"\u2581\")");
  }

  // After the normalizer no spaces are left, so Gemma's Split on " " is a
  // no-op; anything else would split words and is refused.
  void ReadPreTokenizer(const Json& root) {
    const auto it = root.find("pre_tokenizer");
    if (it == root.end() || it->is_null()) return;
    const std::string type = TypeOf(*it, "pre_tokenizer");
    const auto pattern = it->find("pattern");
    const bool split_on_space = type == "Split" && pattern != it->end() && pattern->is_object() &&
                                pattern->contains("String") && (*pattern)["String"] == " ";
    if (!split_on_space || !v_.escape_whitespaces) {
      Fail(origin_, ": pre_tokenizer ", Quote(type),
           " is not supported (Gemma has none, or a Split on \" \" after the space normalizer)");
    }
  }

  std::string TypeOf(const Json& object, const char* what) {
    if (!object.is_object()) Fail(origin_, ": ", what, " is not an object");
    const auto it = object.find("type");
    if (it == object.end() || !it->is_string()) Fail(origin_, ": ", what, " has no \"type\"");
    return it->get<std::string>();
  }

  int32_t Id(const Json& value, const std::string& where) {
    if (!value.is_number_integer()) Fail(origin_, ": ", where, ": id is not an integer");
    return CheckId(value.get<int64_t>(), where);
  }

  int32_t CheckId(int64_t id, const std::string& where) {
    if (id < 0 || static_cast<uint64_t>(id) >= limit_) {
      Fail(origin_, ": ", where, ": id ", id, " is out of range (", limit_, " entries)");
    }
    return static_cast<int32_t>(id);
  }

  void Grow(int32_t id) {
    if (static_cast<size_t>(id) >= v_.pieces.size()) {
      v_.pieces.resize(id + 1);
      defined_.resize(id + 1, false);
      added_.resize(id + 1, 0);
    }
  }

  void ReadVocab(std::vector<std::pair<std::string, int64_t>>& vocab) {
    for (auto& [piece, value] : vocab) {
      const int32_t id = CheckId(value, "model.vocab[" + Quote(piece) + "]");
      Grow(id);
      if (defined_[id]) {
        Fail(origin_, ": model.vocab: id ", id, " is used by both ", Quote(v_.pieces[id]), " and ",
             Quote(piece));
      }
      defined_[id] = true;
      v_.pieces[id] = std::move(piece);
    }
  }

  void ReadAddedTokens(Json& added) {
    for (size_t i = 0; i < added.size(); ++i) {
      Json& t = added[i];
      const std::string where = "added_tokens[" + std::to_string(i) + "]";
      if (!t.is_object()) Fail(origin_, ": ", where, " is not an object");
      const auto id_it = t.find("id");
      const auto content = t.find("content");
      if (id_it == t.end() || content == t.end() || !content->is_string()) {
        Fail(origin_, ": ", where, " needs an integer \"id\" and a string \"content\"");
      }
      const int32_t id = Id(*id_it, where);
      Grow(id);
      // The added token's content is what the id stands for, also where the
      // model vocabulary has another string there. Its lstrip / rstrip /
      // single_word / normalized flags are not applied: all are false in
      // Gemma files, where added tokens match the raw text exactly.
      v_.pieces[id] = content->get<std::string>();
      defined_[id] = true;
      const bool special = BoolOption(t, "special", (where + ".special").c_str(), false);
      added_[id] = special || LooksSpecial(v_.pieces[id]) ? 2 : 1;
    }
  }

  // Gemma 4's tokenizer.json has the same structure as Gemma 3's (BPE with
  // merges, the same normalizer, pre-tokenizer and decoder); what tells the
  // two apart is the vocabulary: only Gemma 4 has the <|turn> / <turn|> turn
  // markers (spec 2.3), and only Gemma 4 encodes newline runs apart (4.2).
  bool IsGemma4Vocabulary() const {
    bool open = false, close = false;
    for (const std::string& p : v_.pieces) {
      open = open || p == "<|turn>";
      close = close || p == "<turn|>";
    }
    return open && close;
  }

  void FinishTypes() {
    const size_t n = v_.pieces.size();
    v_.types.assign(n, TokenType::kNormal);
    v_.bos_id = v_.eos_id = v_.unk_id = v_.pad_id = -1;
    for (size_t i = 0; i < n; ++i) {
      const std::string& p = v_.pieces[i];
      const auto id = static_cast<int32_t>(i);
      uint8_t byte;
      if (!defined_[i]) {
        v_.types[i] = TokenType::kUnused;  // a gap in the ids: never produced
      } else if (added_[i] == 2) {
        v_.types[i] = TokenType::kControl;
      } else if (added_[i] == 1) {
        v_.types[i] = TokenType::kUserDefined;
      } else if (unk_token_ && p == *unk_token_) {
        v_.types[i] = TokenType::kUnknown;
      } else if (v_.byte_fallback && ParseBytePiece(p, &byte)) {
        v_.types[i] = TokenType::kByte;
      }
      if (unk_token_ && p == *unk_token_ && v_.unk_id < 0) v_.unk_id = id;
      if (p == "<bos>" && v_.bos_id < 0) v_.bos_id = id;
      if (p == "<eos>" && v_.eos_id < 0) v_.eos_id = id;
      if (p == "<pad>" && v_.pad_id < 0) v_.pad_id = id;
    }
  }

  const std::string& origin_;
  VocabData v_;
  std::optional<std::string> unk_token_;
  size_t limit_ = 0;
  std::vector<bool> defined_;
  std::vector<uint8_t> added_;  // 0 model piece, 1 added user-defined, 2 added control
};

}  // namespace

Tokenizer Tokenizer::FromTokenizerJson(const std::string& path) {
  const MappedFile file(path);
  return FromTokenizerJsonText(
      std::string_view(reinterpret_cast<const char*>(file.data()), file.size()), path);
}

Tokenizer Tokenizer::FromTokenizerJsonText(std::string_view json_text, const std::string& origin) {
  BuildOptions options;
  options.origin = origin;
  options.merges_key = "model.merges";
  return Tokenizer(Impl::Create(JsonLoader(origin).Load(json_text), std::move(options)));
}

}  // namespace gemma
