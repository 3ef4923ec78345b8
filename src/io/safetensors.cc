#include "io/safetensors.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "base/error.h"

namespace gemma {
namespace {

// Headers of real checkpoints are a few hundred KB; anything far larger is corrupt.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

std::optional<DType> ParseDType(const std::string& dtype) {
  if (dtype == "F32") return DType::kF32;
  if (dtype == "F16") return DType::kF16;
  if (dtype == "BF16") return DType::kBF16;
  if (dtype == "F64") return DType::kF64;
  if (dtype == "I8") return DType::kI8;
  if (dtype == "I16") return DType::kI16;
  if (dtype == "I32") return DType::kI32;
  if (dtype == "I64") return DType::kI64;
  return std::nullopt;
}

}  // namespace

std::shared_ptr<MappedFile> ReadSafetensors(const std::string& path, TensorCatalog& catalog) {
  auto file = std::make_shared<MappedFile>(path);
  if (file->size() < 8) Fail(path, ": truncated safetensors file (no header length)");
  uint64_t header_bytes;
  std::memcpy(&header_bytes, file->data(), sizeof(header_bytes));
  if (header_bytes > kMaxHeaderBytes || header_bytes > file->size() - 8) {
    Fail(path, ": corrupt or truncated safetensors file: header length ", header_bytes,
         " but the file has ", file->size(), " bytes");
  }
  const char* header_begin = reinterpret_cast<const char*>(file->data() + 8);
  nlohmann::json header = nlohmann::json::parse(header_begin, header_begin + header_bytes,
                                                /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    Fail(path, ": safetensors header is not a JSON object");
  }
  const uint8_t* data = file->data() + 8 + header_bytes;
  const size_t data_size = file->size() - 8 - header_bytes;

  for (const auto& [name, desc] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string& tensor = name;  // structured bindings cannot be captured (C++17 rule, clang)
    auto bad = [&](const std::string& why) { Fail(path, ": tensor '", tensor, "': ", why); };
    if (!desc.is_object()) bad("description is not an object");
    const auto dtype_it = desc.find("dtype");
    const auto shape_it = desc.find("shape");
    const auto offsets_it = desc.find("data_offsets");
    if (dtype_it == desc.end() || !dtype_it->is_string()) bad("missing dtype");
    if (shape_it == desc.end() || !shape_it->is_array()) bad("missing shape");
    if (offsets_it == desc.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
        !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned()) {
      bad("missing or malformed data_offsets");
    }
    const std::optional<DType> type = ParseDType(dtype_it->get<std::string>());
    if (!type) bad("unsupported dtype " + dtype_it->get<std::string>());

    TensorEntry entry;
    entry.name = name;
    entry.file = path;
    entry.type = *type;
    uint64_t elements = 1;
    for (const auto& extent : *shape_it) {
      if (!extent.is_number_unsigned()) bad("shape has a non-integer extent");
      const uint64_t e = extent.get<uint64_t>();
      if (e > (uint64_t{1} << 40) || (e != 0 && elements > (uint64_t{1} << 48) / e)) {
        bad("shape is too large");
      }
      elements *= e;
      entry.shape.push_back(static_cast<int64_t>(e));
    }
    const uint64_t begin = (*offsets_it)[0].get<uint64_t>();
    const uint64_t end = (*offsets_it)[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
          ") run past the end of the file (truncated download?)");
    }
    entry.size_bytes = BytesFor(*type, static_cast<int64_t>(elements));
    if (end - begin != entry.size_bytes) {
      bad("holds " + std::to_string(end - begin) + " bytes but its shape and dtype need " +
          std::to_string(entry.size_bytes));
    }
    entry.data = data + begin;
    entry.mapping = file.get();
    catalog.Add(std::move(entry));
  }
  return file;
}

}  // namespace gemma
