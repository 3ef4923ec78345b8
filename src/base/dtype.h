// Element types of weight tensors. The numeric values are ggml's type ids, so a
// GGUF tensor's type field converts directly; safetensors dtypes map onto the
// same enum. Block layouts are in shared spec weight-formats.md section C.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gemma {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct DTypeInfo {
  DType type;
  std::string_view name;  // ggml's name, e.g. "q4_K", "bf16"
  int block_elems;        // elements per block (1 for plain types)
  int block_bytes;        // bytes per block
};

// Info for a type this engine knows, or nullopt for an unknown/unsupported id.
std::optional<DTypeInfo> LookupDType(uint32_t ggml_type_id);
const DTypeInfo& Info(DType type);
inline std::string_view Name(DType type) { return Info(type).name; }

// Bytes taken by `n` elements (n must be a multiple of the block size).
inline size_t BytesFor(DType type, int64_t n) {
  const DTypeInfo& info = Info(type);
  return static_cast<size_t>(n / info.block_elems) * static_cast<size_t>(info.block_bytes);
}

}  // namespace gemma
