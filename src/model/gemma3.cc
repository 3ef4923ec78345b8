// Gemma 3 (270M, 1B, 4B, 12B, 27B; the text decoder of the multimodal 4B+):
// five sliding layers to one global, local and global RoPE bases (linear
// scaling on the global ones for 4B+), per-head q/k RMSNorm, sandwich norms,
// no soft-caps. Shared spec gemma-architecture.md section 4,
// model-configs.md section 3.
#include <cmath>

#include "model/builder_common.h"
#include "model/gemma_rows.h"
#include "model/generation.h"

namespace gemma {
namespace {

// Layer i is global iff (i + 1) % 6 == 0, unless the file says otherwise
// (layer_types, or an older config's sliding_window_pattern period).
bool SixthLayersGlobal(int layer) { return (layer + 1) % 6 != 0; }

// Gemma 3 27B has 62 layers: llama.cpp scales its queries by hidden/heads.
constexpr int kDepthOf27B = 62;

ModelSpec BuildGemma3Spec(const ModelConfig& config, const TensorNamer&, int vocab_size) {
  ModelSpec spec = ReadDecoderSpec(config, vocab_size);
  const RopeBases rope = ReadRopeBases(config);
  const int window = ReadSlidingWindow(config);
  const std::vector<bool> sliding =
      ReadSlidingLayers(config, spec.num_layers(), /*read_period=*/true, SixthLayersGlobal);
  for (int i = 0; i < spec.num_layers(); ++i) {
    LayerSpec& l = spec.layers[i];
    SetAttention(l, sliding[i], window);
    const bool local = l.attention == AttentionType::kSliding;
    l.query_scale = 1.0f / std::sqrt(ReadQueryPreAttnScalar(config, spec, i, kDepthOf27B));
    l.rope_theta = local ? rope.local_theta : rope.global_theta;
    l.rope_linear_factor = local ? 1.0f : rope.global_linear_factor;
    l.qk_norm = true;
    l.sandwich_norms = true;
  }
  return spec;
}

constexpr TensorRow kGemma3Rows[] = {
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
    rows::kQNorm,
    rows::kKNorm,
    rows::kPreFeedforwardNorm,
    rows::kPostAttentionNorm,
    rows::kPostFeedforwardNorm,
};

}  // namespace

constexpr Generation kGemma3 = {
    .gguf_architecture = "gemma3",
    .hf_model_type = "gemma3_text",
    .hf_multimodal_type = "gemma3",
    .build_spec = BuildGemma3Spec,
    .rows = kGemma3Rows,
    .hf_norm_offset = 1.0f,
};

}  // namespace gemma
