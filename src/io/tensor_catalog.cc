#include "io/tensor_catalog.h"

#include <cstring>

#include "base/error.h"
#include "base/mapped_file.h"

namespace gemma {

std::string TensorEntry::ShapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

void CopyTensorBytes(const TensorEntry& t, size_t offset, size_t n, void* dst) {
  if (offset > t.size_bytes || n > t.size_bytes - offset) {
    Fail(t.file, ": tensor '", t.name, "': read of ", n, " bytes at ", offset, " past its ",
         t.size_bytes);
  }
  if (n == 0) return;
  if (t.mapping != nullptr) return t.mapping->CopyOut(t.data + offset, n, dst);
  std::memcpy(dst, t.data + offset, n);
}

void TensorCatalog::Add(TensorEntry entry) {
  if (entries_.count(entry.name) != 0) {
    Fail(entry.file, ": tensor '", entry.name, "' appears twice");
  }
  std::string name = entry.name;
  entries_.emplace(std::move(name), std::move(entry));
}

const TensorEntry* TensorCatalog::Find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace gemma
