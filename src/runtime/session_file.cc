// Saving a session (tokens, next-token logits and the KV cache) to disk and
// loading it back, checked against the model that made it.
#include <cstring>
#include <fstream>
#include <optional>

#include "base/dtype.h"
#include "base/error.h"
#include "io/paths.h"
#include "runtime/engine_impl.h"

namespace gemma {
namespace {

constexpr char kMagic[8] = {'G', 'E', 'M', 'M', 'A', 'S', 'E', 'S'};
constexpr uint32_t kVersion = 1;

void Mix(uint64_t& hash, const void* data, size_t size) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 0x100000001b3ull;  // FNV-1a
}

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t kv_type;
  uint64_t fingerprint;
  uint32_t layers;
  uint32_t vocab;
  uint32_t tokens;
  uint32_t metadata_bytes;
};

}  // namespace

uint64_t ModelFingerprint(const ModelSource& source) {
  uint64_t hash = 0xcbf29ce484222325ull;
  // Names, types and shapes of every tensor, and a few bytes from its start
  // and end: cheap (a couple of pages per tensor) and different for any other
  // model or quantization.
  for (const auto& [name, t] : source.tensors.entries()) {
    Mix(hash, name.data(), name.size());
    Mix(hash, &t.type, sizeof(t.type));
    Mix(hash, t.shape.data(), t.shape.size() * sizeof(int64_t));
    // Read with file reads: a touch of the mapping would make the whole
    // page-cache folio around it resident (up to 2 MiB per tensor end).
    const size_t sample = std::min<size_t>(t.size_bytes, 64);
    uint8_t bytes[64];
    CopyTensorBytes(t, 0, sample, bytes);
    Mix(hash, bytes, sample);
    CopyTensorBytes(t, t.size_bytes - sample, sample, bytes);
    Mix(hash, bytes, sample);
  }
  return hash;
}

Status Session::Save(const std::string& path, const std::string& metadata) const {
  const Impl& s = *impl_;
  std::lock_guard lock(s.model.mutex);
  KvMemory& kv = *s.model.kv;
  const std::vector<int32_t>& tokens = s.seq.tokens();
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kVersion;
  h.kv_type = static_cast<uint32_t>(kv.type());
  h.fingerprint = s.model.fingerprint;
  h.layers = static_cast<uint32_t>(kv.num_layers());
  h.vocab = static_cast<uint32_t>(s.logits.size());
  h.tokens = static_cast<uint32_t>(tokens.size());
  h.metadata_bytes = static_cast<uint32_t>(metadata.size());
  std::ofstream out(path + ".tmp", std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(&h), sizeof(h));
  out.write(metadata.data(), static_cast<std::streamsize>(metadata.size()));
  out.write(reinterpret_cast<const char*>(tokens.data()),
            static_cast<std::streamsize>(tokens.size() * sizeof(int32_t)));
  out.write(reinterpret_cast<const char*>(s.logits.data()),
            static_cast<std::streamsize>(s.logits.size() * sizeof(float)));
  // Per layer, the positions it still holds (a sliding layer only its
  // window's blocks), oldest first.
  const int n = static_cast<int>(tokens.size());
  for (int layer = 0; layer < kv.num_layers(); ++layer) {
    const int first = kv.FirstHeld(s.seq, layer);
    const uint32_t kept = static_cast<uint32_t>(n - first);
    out.write(reinterpret_cast<const char*>(&kept), sizeof(kept));
    const std::streamsize row = static_cast<std::streamsize>(kv.row_bytes(layer));
    for (int pos = first; pos < n; ++pos) {
      out.write(reinterpret_cast<const char*>(kv.KeyRow(s.seq, layer, pos)), row);
      out.write(reinterpret_cast<const char*>(kv.ValueRow(s.seq, layer, pos)), row);
    }
  }
  out.close();
  if (!out) return Status::Error(path + ": cannot write the session file");
  // Replace atomically, so a crash never leaves half a session behind.
  if (std::rename((path + ".tmp").c_str(), path.c_str()) != 0) {
    return Status::Error(path + ": cannot write the session file");
  }
  return Status();
}

Status Session::Load(const std::string& path, std::string* metadata) {
  Impl& s = *impl_;
  if (Status file = CheckRegularFile(path, "session file"); !file.ok()) return file;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(StatusCode::kNotFound, path + ": cannot open the session file");
  auto error = [&](const std::string& why) { return Status::Error(path + ": " + why); };
  std::lock_guard lock(s.model.mutex);
  KvMemory& kv = *s.model.kv;
  Header h{};
  in.read(reinterpret_cast<char*>(&h), sizeof(h));
  if (!in || std::memcmp(h.magic, kMagic, 8) != 0) return error("not a gemma session file");
  if (h.version != kVersion)
    return error("unsupported session file version " + std::to_string(h.version));
  if (h.fingerprint != s.model.fingerprint || h.layers != static_cast<uint32_t>(kv.num_layers()) ||
      h.vocab != s.logits.size()) {
    return error("the session was saved with a different model");
  }
  if (h.kv_type != static_cast<uint32_t>(kv.type())) {
    // Any 32-bit value can be in the file: named only if it is a known type.
    const std::optional<DTypeInfo> saved = LookupDType(h.kv_type);
    if (!saved) {
      return error("corrupt session file (unknown KV type id " + std::to_string(h.kv_type) + ")");
    }
    return error("the session was saved with --kv-type " + std::string(saved->name) +
                 "; this one uses " + std::string(Name(kv.type())));
  }
  if (h.tokens > static_cast<uint32_t>(s.model.context)) {
    return error("the session holds " + std::to_string(h.tokens) +
                 " tokens, more than the context length " + std::to_string(s.model.context));
  }
  if (h.metadata_bytes > (1u << 24)) return error("corrupt session file");
  std::string meta(h.metadata_bytes, '\0');
  in.read(meta.data(), static_cast<std::streamsize>(meta.size()));
  std::vector<int32_t> tokens(h.tokens);
  in.read(reinterpret_cast<char*>(tokens.data()), static_cast<std::streamsize>(tokens.size() * 4));
  std::vector<float> logits(h.vocab);
  in.read(reinterpret_cast<char*>(logits.data()), static_cast<std::streamsize>(logits.size() * 4));
  if (!in) return error("truncated session file");
  for (int32_t id : tokens) {
    if (id < 0 || id >= static_cast<int32_t>(h.vocab)) return error("corrupt session file");
  }
  // The rows go into a fresh sequence, which replaces this session's only
  // once the whole file has been read.
  SequenceKv seq;
  const int n = static_cast<int>(h.tokens);
  if (!kv.ReserveRestored(seq, n)) {
    return Status(StatusCode::kResourceExhausted, path + ": the KV memory is full");
  }
  auto fail = [&](const std::string& why) {
    kv.Release(seq);
    return error(why);
  };
  std::vector<char> row;
  for (int layer = 0; layer < kv.num_layers(); ++layer) {
    uint32_t kept = 0;
    in.read(reinterpret_cast<char*>(&kept), sizeof(kept));
    // A layer must bring every row of the blocks it will hold: its window's,
    // and in a sliding layer also the rows before the window in the window's
    // first block. All of them are stored, so the session holds what the
    // saved one held: a Truncate back before the window attends to them, and
    // attention tiles start at the block. (Save writes exactly these rows.)
    const int held_from = kv.HeldFrom(layer, n);
    if (!in || kept > static_cast<uint32_t>(n) || static_cast<int>(kept) < n - held_from) {
      return fail("corrupt session file");
    }
    row.resize(kv.row_bytes(layer));
    const bool own = kv.Storage(layer) == layer;  // shared K/V arrive with their source
    for (int pos = n - static_cast<int>(kept); pos < n; ++pos) {
      const bool keep = own && pos >= held_from;
      in.read(row.data(), static_cast<std::streamsize>(row.size()));
      if (keep) std::memcpy(kv.KeyRow(seq, layer, pos), row.data(), row.size());
      in.read(row.data(), static_cast<std::streamsize>(row.size()));
      if (keep) std::memcpy(kv.ValueRow(seq, layer, pos), row.data(), row.size());
    }
    if (!in) return fail("truncated session file");
  }
  kv.Commit(seq, tokens);
  kv.Release(s.seq);
  s.seq = std::move(seq);
  s.logits = std::move(logits);
  if (metadata != nullptr) *metadata = std::move(meta);
  return Status();
}

}  // namespace gemma
