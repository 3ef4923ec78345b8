#include "io/model_source.h"

#include <filesystem>
#include <set>

#include "base/error.h"
#include "io/safetensors.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

nlohmann::json ReadJson(const std::string& path) {
  const std::string text = ReadFileToString(path);
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) Fail(path, ": not valid JSON");
  return json;
}

void OpenHuggingFaceFolder(const fs::path& dir, ModelSource& source) {
  source.format = ModelFormat::kHuggingFace;
  const fs::path config = dir / "config.json";
  if (!fs::exists(config)) Fail(dir.string(), ": not a model folder (no config.json)");
  source.hf_config = ReadJson(config.string());
  if (!source.hf_config.is_object()) Fail(config.string(), ": expected a JSON object");

  std::vector<std::string> shards;
  const fs::path single = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(single)) {
    shards.push_back(single.string());
  } else if (fs::exists(index)) {
    const nlohmann::json index_json = ReadJson(index.string());
    const auto map = index_json.find("weight_map");
    if (!index_json.is_object() || map == index_json.end() || !map->is_object()) {
      Fail(index.string(), ": missing weight_map");
    }
    std::set<std::string> files;
    for (const auto& [tensor, file] : map->items()) {
      if (!file.is_string()) Fail(index.string(), ": weight_map['", tensor, "'] is not a string");
      const std::string name = file.get<std::string>();
      if (name.find('/') != std::string::npos || name == "..") {
        Fail(index.string(), ": weight_map names a file outside the folder: ", name);
      }
      files.insert(name);
    }
    for (const std::string& name : files) shards.push_back((dir / name).string());
  } else {
    Fail(dir.string(), ": no model.safetensors or model.safetensors.index.json");
  }
  for (const std::string& shard : shards) {
    source.mappings.push_back(ReadSafetensors(shard, source.tensors));
  }
  if (fs::exists(dir / "tokenizer.json"))
    source.tokenizer_json_path = (dir / "tokenizer.json").string();
  if (fs::exists(dir / "tokenizer.model")) {
    source.tokenizer_model_path = (dir / "tokenizer.model").string();
  }
}

}  // namespace

size_t ModelSource::TotalTensorBytes() const {
  size_t total = 0;
  for (const auto& [name, entry] : tensors.entries()) total += entry.size_bytes;
  return total;
}

ModelSource OpenModelSource(const std::string& path) {
  ModelSource source;
  source.path = path;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) FailWith(StatusCode::kNotFound, path, ": no such file or folder");
  if (fs::is_directory(status)) {
    OpenHuggingFaceFolder(fs::path(path), source);
    return source;
  }
  source.format = ModelFormat::kGguf;
  source.gguf = std::make_unique<GgufFile>(path);
  source.tensors = source.gguf->tensors();
  source.mappings.push_back(source.gguf->mapping());
  return source;
}

}  // namespace gemma
