#include "model/generation.h"

#include <string>

#include "base/error.h"
#include "io/json_fields.h"
#include "io/model_source.h"

namespace gemma {
namespace {

// Every generation this engine reads (docs/model-builders.md).
constexpr const Generation* kGenerations[] = {&kGemma1, &kGemma2, &kGemma3, &kGemma3n, &kGemma4};

std::string GgufNames() {
  std::string names;
  for (const Generation* g : kGenerations)
    names += (names.empty() ? "" : ", ") + std::string(g->gguf_architecture);
  return names;
}

std::string HfNames() {
  std::string names;
  for (const Generation* g : kGenerations) {
    names += (names.empty() ? "" : ", ") + std::string(g->hf_model_type);
    if (g->hf_multimodal_type != nullptr) names += ", " + std::string(g->hf_multimodal_type);
  }
  return names;
}

// The embedding's row of a generation (every generation has one).
const TensorRow& EmbeddingRow(const Generation& g) {
  for (const TensorRow& row : g.rows) {
    if (row.member == TensorBinding(&ModelWeights::embedding)) return row;
  }
  Fail("internal error: generation '", g.gguf_architecture, "' has no embedding row");
}

// The vocabulary size is the embedding's row count in both formats (a
// multimodal config.json's vocab_size may count rows the file dropped).
int VocabFromEmbedding(const ModelSource& source, const Generation& g) {
  const TensorRow& row = EmbeddingRow(g);
  const TensorNamer namer(source);
  const TensorEntry* embedding = namer.Find(row, -1);
  if (embedding == nullptr) Fail(source.path, ": missing tensor '", namer.Name(row, -1), "'");
  if (embedding->shape.size() != 2) {
    Fail(source.path, ": tensor '", embedding->name, "' should be 2-D but has shape ",
         embedding->ShapeString());
  }
  return static_cast<int>(embedding->shape[0]);
}

}  // namespace

std::span<const Generation* const> Generations() { return kGenerations; }

const Generation& GenerationOf(const ModelSpec& spec) {
  for (const Generation* g : kGenerations) {
    if (spec.architecture == g->gguf_architecture) return *g;
  }
  Fail("unknown or unsupported architecture '", spec.architecture, "' (this engine runs ",
       GgufNames(), ")");
}

ModelSpec BuildModelSpec(const ModelSource& source) {
  const Generation* generation = nullptr;
  std::optional<ModelConfig> config;
  if (source.format == ModelFormat::kGguf) {
    config = ModelConfig::FromGguf(*source.gguf);
    for (const Generation* g : kGenerations) {
      if (config->gguf_architecture() == g->gguf_architecture) generation = g;
    }
    if (generation == nullptr) {
      Fail(config->origin(), ": unknown or unsupported architecture '", config->gguf_architecture(),
           "' (this engine runs ", GgufNames(), ")");
    }
  } else {
    const std::string origin = source.path + "/config.json";
    const JsonObject top(source.hf_config, origin);
    const std::string model_type = top.String("model_type").value_or("");
    bool multimodal = false;
    for (const Generation* g : kGenerations) {
      if (model_type == g->hf_model_type) generation = g;
      if (g->hf_multimodal_type != nullptr && model_type == g->hf_multimodal_type) {
        generation = g;
        multimodal = true;
      }
    }
    if (generation == nullptr) {
      Fail(origin, ": unknown or unsupported model_type '", model_type, "' (this engine runs ",
           HfNames(), ")");
    }
    if (multimodal) {  // the text decoder's config; vision and audio towers are not read
      if (!top.Object("text_config")) Fail(origin, ": ", model_type, " config without text_config");
      config = ModelConfig::FromHf(source.hf_config["text_config"], origin, "text_config");
    } else {
      config = ModelConfig::FromHf(source.hf_config, origin);
    }
  }
  const TensorNamer tensors(source);
  ModelSpec spec =
      generation->build_spec(*config, tensors, VocabFromEmbedding(source, *generation));
  spec.architecture = generation->gguf_architecture;
  spec.Validate(config->origin());
  return spec;
}

}  // namespace gemma
