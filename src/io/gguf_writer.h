// GGUF v3 writer: metadata and tensors laid out as llama.cpp reads them. Used
// by `gemma quantize` and by tests that build (possibly broken) files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "io/gguf.h"

namespace gemma {

class GgufWriter {
 public:
  explicit GgufWriter(size_t alignment = 32) : alignment_(alignment) {}

  void SetValue(const std::string& key, const GgufValue& value);
  void SetString(const std::string& key, const std::string& value);
  void SetU32(const std::string& key, uint32_t value);
  void SetF32(const std::string& key, float value);
  void SetBool(const std::string& key, bool value);
  // shape outermost first (as TensorEntry); bytes must match BytesFor(type, elements).
  void AddTensor(const std::string& name, DType type, const std::vector<int64_t>& shape,
                 std::vector<uint8_t> bytes);

  // The whole file in memory (tests) or written to `path` (throws gemma::Error).
  std::vector<uint8_t> Serialize() const;
  void Write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  size_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace gemma
