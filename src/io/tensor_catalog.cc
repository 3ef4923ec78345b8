#include "io/tensor_catalog.h"

#include "base/error.h"

namespace gemma {

std::string TensorEntry::ShapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
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
