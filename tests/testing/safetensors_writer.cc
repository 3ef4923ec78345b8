#include "testing/safetensors_writer.h"

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

namespace gemma::testing {

void WriteSafetensors(const std::string& path, const std::vector<const TensorEntry*>& tensors,
                      const std::string& prefix_to_add) {
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  size_t offset = 0;
  for (const TensorEntry* t : tensors) {
    const char* dtype = t->type == DType::kBF16 ? "BF16" : t->type == DType::kF16 ? "F16" : "F32";
    header[prefix_to_add + t->name] = {
        {"dtype", dtype}, {"shape", t->shape}, {"data_offsets", {offset, offset + t->size_bytes}}};
    offset += t->size_bytes;
  }
  const std::string text = header.dump();
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = text.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const TensorEntry* t : tensors) {
    out.write(reinterpret_cast<const char*>(t->data), static_cast<std::streamsize>(t->size_bytes));
  }
}

}  // namespace gemma::testing
