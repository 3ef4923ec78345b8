// Gemma 1 (2B, 7B; CodeGemma): every layer global, MQA or MHA, query scale
// 1/sqrt(head_dim), no soft-caps, two norms per layer. Shared spec
// gemma-architecture.md section 2, model-configs.md section 1.
#include <cmath>

#include "model/builder_common.h"
#include "model/gemma_rows.h"
#include "model/generation.h"

namespace gemma {
namespace {

ModelSpec BuildGemma1Spec(const ModelConfig& config, const TensorNamer&, int vocab_size) {
  ModelSpec spec = ReadDecoderSpec(config, vocab_size);
  const RopeBases rope = ReadRopeBases(config);
  for (LayerSpec& l : spec.layers) {
    l.query_scale = 1.0f / std::sqrt(static_cast<float>(l.head_dim));
    l.rope_theta = rope.global_theta;
  }
  return spec;
}

constexpr TensorRow kGemma1Rows[] = {
    rows::kEmbedding,
    rows::kOutputHead,
    rows::kFinalNorm,
    rows::kQ,
    rows::kK,
    rows::kV,
    rows::kO,
    rows::kGate,
    rows::kUp,
    rows::kDown,
    rows::kInputNorm,
    // Without sandwich norms HF calls the pre-MLP norm post_attention_layernorm.
    {"blk.%d.ffn_norm.weight",
     "layers.%d.post_attention_layernorm.weight",
     {Dim::kHidden},
     &LayerWeights::pre_feedforward_norm,
     QuantRule::kF32},
};

}  // namespace

constexpr Generation kGemma1 = {
    .gguf_architecture = "gemma",
    .hf_model_type = "gemma",
    .hf_multimodal_type = nullptr,
    .build_spec = BuildGemma1Spec,
    .rows = kGemma1Rows,
    .hf_norm_offset = 1.0f,
};

}  // namespace gemma
