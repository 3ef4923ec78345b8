// GGUF (v2 and v3) reader: metadata key/values of every type, tensor infos, and
// tensor data in place in the memory mapping. Layout: shared spec
// weight-formats.md section B.1. Every length and offset is bounds-checked, so a
// truncated or corrupt file is a gemma::Error, never an out-of-bounds read.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "io/tensor_catalog.h"

namespace gemma {

enum class GgufType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// One metadata value. Scalars are widened: integers and bools into `integer`,
// floats into `real`. Arrays keep their element type; numbers go to `numbers`
// (as double, exact for every integer a Gemma file holds) and strings to
// `strings`. Arrays of arrays are accepted and kept as their element count only.
struct GgufValue {
  GgufType type = GgufType::kU8;
  GgufType array_type = GgufType::kU8;  // when type == kArray
  int64_t integer = 0;
  double real = 0;
  std::string str;
  std::vector<double> numbers;
  std::vector<std::string> strings;
  uint64_t array_size = 0;

  bool IsInteger() const;
  bool IsFloat() const { return type == GgufType::kF32 || type == GgufType::kF64; }
};

class GgufFile {
 public:
  // Maps and parses `path`; throws gemma::Error naming the file and the key or
  // tensor at fault.
  explicit GgufFile(const std::string& path);

  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const TensorCatalog& tensors() const { return tensors_; }
  std::shared_ptr<MappedFile> mapping() const { return file_; }
  // Names in file order (the catalog is sorted by name).
  const std::vector<std::string>& tensor_order() const { return tensor_order_; }

  const GgufValue* Find(const std::string& key) const;
  // Typed getters: nullopt when the key is absent; gemma::Error when present
  // with an incompatible type.
  std::optional<int64_t> GetInt(const std::string& key) const;
  std::optional<double> GetFloat(const std::string& key) const;
  std::optional<std::string> GetString(const std::string& key) const;
  std::optional<bool> GetBool(const std::string& key) const;

 private:
  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  std::map<std::string, GgufValue> metadata_;
  TensorCatalog tensors_;
  std::vector<std::string> tensor_order_;
};

const char* GgufTypeName(GgufType type);

}  // namespace gemma
