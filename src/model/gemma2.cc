// Gemma 2 (2B, 9B, 27B): even layers slide, odd layers are global; attention
// and final logit soft-caps; sandwich norms; the query scaled by
// query_pre_attn_scalar. Shared spec gemma-architecture.md section 3,
// model-configs.md section 2.
#include <cmath>

#include "model/builder_common.h"
#include "model/gemma_rows.h"
#include "model/generation.h"

namespace gemma {
namespace {

// [LOCAL_SLIDING, GLOBAL] * L/2, unless the file lists layer_types.
bool EvenLayersSlide(int layer) { return layer % 2 == 0; }

// Gemma 2 27B has 46 layers: llama.cpp scales its queries by hidden/heads.
constexpr int kDepthOf27B = 46;

ModelSpec BuildGemma2Spec(const ModelConfig& config, const TensorNamer&, int vocab_size) {
  ModelSpec spec = ReadDecoderSpec(config, vocab_size);
  const RopeBases rope = ReadRopeBases(config);
  const int window = ReadSlidingWindow(config);
  const std::vector<bool> sliding =
      ReadSlidingLayers(config, spec.num_layers(), /*read_period=*/false, EvenLayersSlide);
  const float attn_softcap =
      static_cast<float>(config.Number("attn_logit_softcapping").value_or(0));
  for (int i = 0; i < spec.num_layers(); ++i) {
    LayerSpec& l = spec.layers[i];
    SetAttention(l, sliding[i], window);
    l.query_scale = 1.0f / std::sqrt(ReadQueryPreAttnScalar(config, spec, i, kDepthOf27B));
    l.attn_logit_softcap = attn_softcap;
    l.sandwich_norms = true;
    l.rope_theta = rope.global_theta;
  }
  return spec;
}

constexpr TensorRow kGemma2Rows[] = {
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
    rows::kPreFeedforwardNorm,
    rows::kPostAttentionNorm,
    rows::kPostFeedforwardNorm,
};

}  // namespace

constexpr Generation kGemma2 = {
    .gguf_architecture = "gemma2",
    .hf_model_type = "gemma2",
    .hf_multimodal_type = nullptr,
    .build_spec = BuildGemma2Spec,
    .rows = kGemma2Rows,
    .hf_norm_offset = 1.0f,
};

}  // namespace gemma
