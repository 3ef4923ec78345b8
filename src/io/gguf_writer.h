// GGUF v3 writer: metadata and tensors laid out as llama.cpp reads them. Used
// by `gemma quantize` and by tests that build (possibly broken) files.
#pragma once

#include <cstdint>
#include <cstdio>
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
  // A tensor whose bytes GgufStreamWriter will write later.
  void DeclareTensor(const std::string& name, DType type, const std::vector<int64_t>& shape);

  // The whole file in memory (tests) or written to `path` (throws gemma::Error).
  // Every tensor must have been given its bytes (AddTensor).
  std::vector<uint8_t> Serialize() const;
  void Write(const std::string& path) const;

  // Header, metadata and tensor table, padded to where tensor data starts.
  std::vector<uint8_t> SerializeHeader() const;
  size_t alignment() const { return alignment_; }
  // Byte sizes of the tensors, in file order.
  std::vector<size_t> TensorSizes() const;

 private:
  struct Tensor {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    size_t size = 0;
    std::vector<uint8_t> bytes;  // empty for a declared tensor
  };
  size_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
};

// Writes a GGUF file tensor by tensor, so that only the piece being written
// is in memory (`gemma quantize` of a 27B model needs no 27B buffer). The
// file appears at `path` only when Finish() succeeds: it is written to
// path + ".tmp" and renamed, so an interrupted run leaves no half file.
class GgufStreamWriter {
 public:
  // Writes `layout`'s header and tensor table (its tensors declared, with or
  // without bytes); throws gemma::Error naming the path if it cannot.
  GgufStreamWriter(const GgufWriter& layout, std::string path);
  ~GgufStreamWriter();  // removes the .tmp file unless Finish() succeeded
  GgufStreamWriter(const GgufStreamWriter&) = delete;
  GgufStreamWriter& operator=(const GgufStreamWriter&) = delete;

  // The next bytes of the tensors, in file order; a call may end inside a
  // tensor or span several. Throws when more bytes come than were declared.
  void Append(const uint8_t* data, size_t size);
  // Throws unless every declared byte was appended; then renames into place.
  void Finish();

 private:
  void Pad();
  std::string path_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  size_t alignment_;
  std::vector<size_t> sizes_;
  size_t tensor_ = 0;   // the tensor being written
  size_t written_ = 0;  // bytes of it written so far
  bool finished_ = false;
};

}  // namespace gemma
