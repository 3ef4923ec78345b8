#include "io/model_source.h"

#include <filesystem>
#include <set>

#include "base/error.h"
#include "io/json_fields.h"
#include "io/paths.h"
#include "io/safetensors.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

nlohmann::json ReadJson(const std::string& path) {
  RequireRegularFile(path);
  return ParseJsonText(ReadFileToString(path), path);
}

// A file of the folder that may be absent; one that is there but is not a
// regular file (a FIFO, a symlink loop) is an error, not "absent".
bool HasFile(const fs::path& path) {
  const PathType type = StatPath(path.string());
  if (type == PathType::kMissing) return false;
  if (type != PathType::kFile) RequireRegularFile(path.string());
  return true;
}

void OpenHuggingFaceFolder(const fs::path& dir, ModelSource& source) {
  source.format = ModelFormat::kHuggingFace;
  const fs::path config = dir / "config.json";
  if (!HasFile(config)) Fail(dir.string(), ": not a model folder (no config.json)");
  source.hf_config = ReadJson(config.string());
  if (!source.hf_config.is_object()) {
    Fail(config.string(), ": expected a JSON object but found ", JsonTypeName(source.hf_config));
  }

  std::vector<std::string> shards;
  const fs::path single = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";
  if (HasFile(single)) {
    shards.push_back(single.string());
  } else if (HasFile(index)) {
    const nlohmann::json index_json = ReadJson(index.string());
    const std::optional<JsonObject> map =
        JsonObject(index_json, index.string()).Object("weight_map");
    if (!map) Fail(index.string(), ": missing weight_map");
    std::set<std::string> files;
    for (const auto& [tensor, file] : map->json().items()) {
      const std::string name = map->String(tensor).value();
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
  if (HasFile(dir / "tokenizer.json"))
    source.tokenizer_json_path = (dir / "tokenizer.json").string();
  if (HasFile(dir / "tokenizer.model")) {
    source.tokenizer_model_path = (dir / "tokenizer.model").string();
  }
  if (HasFile(dir / "tokenizer_config.json")) {
    source.tokenizer_config_path = (dir / "tokenizer_config.json").string();
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
  switch (StatPath(path)) {
    case PathType::kMissing:
      FailWith(StatusCode::kNotFound, path, ": no such file or folder");
    case PathType::kDirectory:
      OpenHuggingFaceFolder(fs::path(path), source);
      return source;
    case PathType::kOther:
      Fail(path, ": is ", DescribeSpecialFile(path), ", not a model file or folder");
    case PathType::kFile:
      break;
  }
  source.format = ModelFormat::kGguf;
  source.gguf = std::make_unique<GgufFile>(path);
  source.tensors = source.gguf->tensors();
  source.mappings.push_back(source.gguf->mapping());
  return source;
}

}  // namespace gemma
