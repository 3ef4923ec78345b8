// The neutral view of a model's tensors that both file readers (GGUF and
// safetensors) produce: name -> type, shape, bytes in the mapping.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/dtype.h"

namespace gemma {

class MappedFile;

struct TensorEntry {
  std::string name;
  DType type = DType::kF32;
  // Outermost dimension first (PyTorch order): a weight matrix is {rows, cols}
  // with rows = output features. GGUF's ne[] is this list reversed.
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into a MappedFile that outlives the catalog's users
  // That file, for reads that map no page (MappedFile::CopyOut); null where
  // data is not in a file's mapping.
  const MappedFile* mapping = nullptr;
  size_t size_bytes = 0;
  std::string file;  // the file it came from, for error messages

  int64_t elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  std::string ShapeString() const;
};

// Copies n bytes at `offset` into t's data to dst: a file read where t lies in
// a mapped file (MappedFile::CopyOut: no page of the mapping becomes
// resident), a copy otherwise. Throws gemma::Error past the tensor's end.
void CopyTensorBytes(const TensorEntry& t, size_t offset, size_t n, void* dst);

class TensorCatalog {
 public:
  // Throws gemma::Error on a duplicate name.
  void Add(TensorEntry entry);
  const TensorEntry* Find(const std::string& name) const;
  const std::map<std::string, TensorEntry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

 private:
  std::map<std::string, TensorEntry> entries_;
};

}  // namespace gemma
