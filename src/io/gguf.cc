#include "io/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "base/error.h"

namespace gemma {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr int kMaxDims = 4;
// Nesting of arrays of arrays; the format allows it, no Gemma file uses it.
constexpr int kMaxArrayDepth = 2;

// A bounds-checked little-endian cursor over the mapped bytes.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  size_t offset() const { return offset_; }
  size_t remaining() const { return size_ - offset_; }

  template <typename T>
  T Read(const char* what) {
    Need(sizeof(T), what);
    T value;
    std::memcpy(&value, data_ + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }

  std::string ReadString(const char* what) {
    const uint64_t length = Read<uint64_t>(what);
    Need(length, what);
    std::string s(reinterpret_cast<const char*>(data_ + offset_), static_cast<size_t>(length));
    offset_ += static_cast<size_t>(length);
    return s;
  }

  void Skip(uint64_t bytes, const char* what) {
    Need(bytes, what);
    offset_ += static_cast<size_t>(bytes);
  }

 private:
  void Need(uint64_t bytes, const char* what) const {
    if (bytes > size_ - offset_) {
      Fail(path_, ": truncated or corrupt GGUF: ", what, " at byte ", offset_, " needs ", bytes,
           " bytes but the file has ", size_ - offset_, " left");
    }
  }

  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 0;
  const std::string& path_;
};

size_t ScalarSize(GgufType type) {
  switch (type) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kBool:
      return 1;
    case GgufType::kU16:
    case GgufType::kI16:
      return 2;
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kF32:
      return 4;
    case GgufType::kU64:
    case GgufType::kI64:
    case GgufType::kF64:
      return 8;
    default:
      return 0;
  }
}

bool IsKnownType(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kF64); }

// Reads one scalar of `type` as a double (for arrays) or into value fields.
double ReadNumber(Reader& r, GgufType type, const char* what) {
  switch (type) {
    case GgufType::kU8:
      return r.Read<uint8_t>(what);
    case GgufType::kI8:
      return r.Read<int8_t>(what);
    case GgufType::kU16:
      return r.Read<uint16_t>(what);
    case GgufType::kI16:
      return r.Read<int16_t>(what);
    case GgufType::kU32:
      return r.Read<uint32_t>(what);
    case GgufType::kI32:
      return r.Read<int32_t>(what);
    case GgufType::kF32:
      return r.Read<float>(what);
    case GgufType::kBool:
      return r.Read<uint8_t>(what) != 0 ? 1 : 0;
    case GgufType::kU64:
      return static_cast<double>(r.Read<uint64_t>(what));
    case GgufType::kI64:
      return static_cast<double>(r.Read<int64_t>(what));
    case GgufType::kF64:
      return r.Read<double>(what);
    default:
      return 0;
  }
}

void ReadValue(Reader& r, GgufType type, GgufValue& value, const std::string& key,
               const std::string& path, int depth) {
  value.type = type;
  switch (type) {
    case GgufType::kString:
      value.str = r.ReadString("metadata string");
      return;
    case GgufType::kU64:
      value.integer = static_cast<int64_t>(r.Read<uint64_t>("metadata value"));
      return;
    case GgufType::kI64:
      value.integer = r.Read<int64_t>("metadata value");
      return;
    case GgufType::kF32:
    case GgufType::kF64:
      value.real = ReadNumber(r, type, "metadata value");
      return;
    case GgufType::kArray: {
      const uint32_t element_type = r.Read<uint32_t>("array element type");
      if (!IsKnownType(element_type)) {
        Fail(path, ": metadata key '", key, "': unknown array element type ", element_type);
      }
      value.array_type = static_cast<GgufType>(element_type);
      value.array_size = r.Read<uint64_t>("array length");
      if (value.array_type == GgufType::kString) {
        // Each string needs at least its 8-byte length: reject counts the
        // rest of the file cannot hold before reserving memory for them.
        if (value.array_size > r.remaining() / 8) {
          Fail(path, ": metadata key '", key, "': array of ", value.array_size,
               " strings does not fit in the ", r.remaining(), " bytes left in the file");
        }
        value.strings.reserve(static_cast<size_t>(value.array_size));
        for (uint64_t i = 0; i < value.array_size; ++i) {
          value.strings.push_back(r.ReadString("array string"));
        }
      } else if (value.array_type == GgufType::kArray) {
        if (depth >= kMaxArrayDepth)
          Fail(path, ": metadata key '", key, "': arrays nested too deep");
        for (uint64_t i = 0; i < value.array_size; ++i) {
          GgufValue nested;
          ReadValue(r, GgufType::kArray, nested, key, path, depth + 1);
        }
      } else {
        const size_t element_size = ScalarSize(value.array_type);
        if (value.array_size > std::numeric_limits<uint64_t>::max() / element_size) {
          Fail(path, ": metadata key '", key, "': array length ", value.array_size, " too large");
        }
        // Checks the whole array fits before allocating for it.
        Reader probe = r;
        probe.Skip(value.array_size * element_size, "numeric array");
        value.numbers.resize(static_cast<size_t>(value.array_size));
        for (auto& number : value.numbers) number = ReadNumber(r, value.array_type, "array");
      }
      return;
    }
    default: {
      const double number = ReadNumber(r, type, "metadata value");
      value.integer = static_cast<int64_t>(number);
      return;
    }
  }
}

}  // namespace

bool GgufValue::IsInteger() const {
  return type != GgufType::kF32 && type != GgufType::kF64 && type != GgufType::kString &&
         type != GgufType::kArray;
}

const char* GgufTypeName(GgufType type) {
  static const char* const kNames[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                       "bool", "string", "array", "u64", "i64", "f64"};
  const auto index = static_cast<uint32_t>(type);
  return index < std::size(kNames) ? kNames[index] : "unknown";
}

GgufFile::GgufFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
  Reader r(file_->data(), file_->size(), path);
  const uint32_t magic = r.Read<uint32_t>("magic");
  if (magic != kMagic) Fail(path, ": not a GGUF file (bad magic)");
  version_ = r.Read<uint32_t>("version");
  if (version_ == 1) Fail(path, ": GGUF version 1 is obsolete and not supported");
  if (version_ != 2 && version_ != 3) {
    if ((version_ & 0xffff) == 0 && version_ != 0) {
      Fail(path, ": big-endian GGUF files are not supported");
    }
    Fail(path, ": unsupported GGUF version ", version_);
  }
  const uint64_t tensor_count = r.Read<uint64_t>("tensor count");
  const uint64_t kv_count = r.Read<uint64_t>("metadata count");
  // Every KV needs at least 12 bytes and every tensor info at least 28: the
  // counts cannot exceed what the file could hold.
  if (kv_count > file_->size() / 12 || tensor_count > file_->size() / 28) {
    Fail(path, ": corrupt GGUF header: ", kv_count, " metadata entries and ", tensor_count,
         " tensors cannot fit in ", file_->size(), " bytes");
  }

  for (uint64_t i = 0; i < kv_count; ++i) {
    std::string key = r.ReadString("metadata key");
    const uint32_t type = r.Read<uint32_t>("metadata type");
    if (!IsKnownType(type)) Fail(path, ": metadata key '", key, "' has unknown type ", type);
    GgufValue value;
    ReadValue(r, static_cast<GgufType>(type), value, key, path, 0);
    if (metadata_.count(key) != 0) Fail(path, ": metadata key '", key, "' appears twice");
    metadata_.emplace(std::move(key), std::move(value));
  }

  if (const GgufValue* align = Find("general.alignment")) {
    if (!align->IsInteger() || align->integer <= 0 || align->integer > (1 << 20) ||
        (align->integer & (align->integer - 1)) != 0) {
      Fail(path, ": general.alignment must be a power of two, got ", align->integer);
    }
    alignment_ = static_cast<size_t>(align->integer);
  }

  struct RawInfo {
    TensorEntry entry;
    uint64_t offset;
  };
  std::vector<RawInfo> infos;
  infos.reserve(static_cast<size_t>(tensor_count));
  for (uint64_t i = 0; i < tensor_count; ++i) {
    RawInfo info;
    info.entry.file = path;
    info.entry.name = r.ReadString("tensor name");
    const std::string& name = info.entry.name;
    const uint32_t n_dims = r.Read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims) {
      Fail(path, ": tensor '", name, "' has ", n_dims, " dimensions (1 to 4 allowed)");
    }
    std::vector<int64_t> ne(n_dims);
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t extent = r.Read<uint64_t>("tensor dimension");
      if (extent == 0 || extent > (uint64_t{1} << 40) || elements > (uint64_t{1} << 48) / extent) {
        Fail(path, ": tensor '", name, "' has an invalid dimension ", extent);
      }
      elements *= extent;
      ne[d] = static_cast<int64_t>(extent);
    }
    const uint32_t type_id = r.Read<uint32_t>("tensor type");
    const std::optional<DTypeInfo> type = LookupDType(type_id);
    if (!type) Fail(path, ": tensor '", name, "' has unsupported ggml type ", type_id);
    if (ne[0] % type->block_elems != 0) {
      Fail(path, ": tensor '", name, "' row length ", ne[0], " is not a multiple of the ",
           type->name, " block size ", type->block_elems);
    }
    info.entry.type = type->type;
    info.entry.shape.assign(ne.rbegin(), ne.rend());
    info.entry.size_bytes = BytesFor(type->type, static_cast<int64_t>(elements));
    info.offset = r.Read<uint64_t>("tensor offset");
    if (info.offset % alignment_ != 0) {
      Fail(path, ": tensor '", name, "' offset ", info.offset, " is not aligned to ", alignment_);
    }
    infos.push_back(std::move(info));
  }

  const size_t data_start = (r.offset() + alignment_ - 1) / alignment_ * alignment_;
  if (data_start > file_->size()) Fail(path, ": truncated GGUF: no tensor data section");
  const size_t data_size = file_->size() - data_start;
  for (RawInfo& info : infos) {
    if (info.offset > data_size || info.entry.size_bytes > data_size - info.offset) {
      Fail(path, ": truncated GGUF: tensor '", info.entry.name, "' (", info.entry.size_bytes,
           " bytes at offset ", info.offset, ") runs past the end of the file");
    }
    info.entry.data = file_->data() + data_start + info.offset;
    info.entry.mapping = file_.get();
    tensor_order_.push_back(info.entry.name);
    tensors_.Add(std::move(info.entry));
  }
  // Everything before the tensor data (metadata, a 262k-piece vocabulary, the
  // tensor table) has been copied out: its pages need not stay resident. Up
  // to the next 2 MiB boundary, because reading the last of them mapped the
  // whole page-cache folio around it (up to 2 MiB on Linux 6.x), tensor data
  // included; tensors are read with file reads (MappedFile::CopyOut) or, the
  // few used in place, fault their pages back in.
  constexpr size_t kLargestFolio = size_t{2} << 20;
  const size_t header_folios = (data_start + kLargestFolio - 1) / kLargestFolio * kLargestFolio;
  file_->ReleasePages(file_->data(), std::min(header_folios, file_->size()));
}

const GgufValue* GgufFile::Find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

std::optional<int64_t> GgufFile::GetInt(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return std::nullopt;
  if (!v->IsInteger()) {
    Fail(path(), ": metadata key '", key, "' should be an integer but is ", GgufTypeName(v->type));
  }
  return v->integer;
}

std::optional<double> GgufFile::GetFloat(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return std::nullopt;
  if (v->IsFloat()) return v->real;
  if (v->IsInteger()) return static_cast<double>(v->integer);
  Fail(path(), ": metadata key '", key, "' should be a number but is ", GgufTypeName(v->type));
}

std::optional<std::string> GgufFile::GetString(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return std::nullopt;
  if (v->type != GgufType::kString) {
    Fail(path(), ": metadata key '", key, "' should be a string but is ", GgufTypeName(v->type));
  }
  return v->str;
}

std::optional<bool> GgufFile::GetBool(const std::string& key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return std::nullopt;
  if (!v->IsInteger()) {
    Fail(path(), ": metadata key '", key, "' should be a bool but is ", GgufTypeName(v->type));
  }
  return v->integer != 0;
}

}  // namespace gemma
