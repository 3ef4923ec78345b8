// Opens what a user passes as -m: a .gguf file or a Hugging Face checkpoint
// folder (config.json + model.safetensors or sharded model-0000N-of-0000M
// files with model.safetensors.index.json). Both end as one TensorCatalog over
// memory-mapped files plus the format's own metadata.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/mapped_file.h"
#include "io/gguf.h"
#include "io/tensor_catalog.h"

namespace gemma {

enum class ModelFormat { kGguf, kHuggingFace };

struct ModelSource {
  ModelFormat format = ModelFormat::kGguf;
  std::string path;
  TensorCatalog tensors;
  std::unique_ptr<GgufFile> gguf;  // GGUF: metadata and tensors
  nlohmann::json hf_config;         // HF: config.json
  std::string tokenizer_json_path;   // HF: tokenizer.json if present
  std::string tokenizer_model_path;  // HF: tokenizer.model if present
  std::string tokenizer_config_path;  // HF: tokenizer_config.json if present
  std::vector<std::shared_ptr<MappedFile>> mappings;

  size_t TotalTensorBytes() const;
};

// Throws gemma::Error with a message naming the path and what is wrong.
ModelSource OpenModelSource(const std::string& path);

}  // namespace gemma
