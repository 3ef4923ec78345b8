// Gemma 3n (E2B, E4B), the text decoder: four sliding layers to one global,
// q/k RMSNorm with gains, v RMSNorm without, query scale 1, sandwich norms,
// final soft-cap; norm gains stored as the gain itself in both formats. Its
// own pieces: AltUp (altup_num_inputs copies of the residual stream, the
// layers running on altup_active_idx; ModelSpec::altup_num_inputs and the
// forward pass's altup.cc), LAuReL beside attention (laurel_rank),
// activation sparsity on the first layers' MLP gate
// (activation_sparsity_pattern p per layer; GGUF stores Phi^-1(p) as
// activation_sparsity_scale, -inf for a dense layer), FFN widths per layer
// (intermediate_size list; GGUF feed_forward_length array). Per-layer
// embeddings and KV sharing as Gemma 4 E2B (builder_common.h); the shared
// layers' k/v weights, which the checkpoints carry, are not read.
// Shared spec gemma-architecture.md section 5, model-configs.md section 4;
// reference HF modeling_gemma3n.py.
#include <cmath>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "io/tensor_catalog.h"
#include "model/builder_common.h"
#include "model/gemma_rows.h"
#include "model/generation.h"

namespace gemma {
namespace {

// Layer i is global iff (i + 1) % 5 == 0, unless the file lists layer_types.
bool FifthLayersGlobal(int layer) { return (layer + 1) % 5 != 0; }

bool RunsAltUp(const LayerSpec& l) { return l.altup; }
bool HasLaurel(const LayerSpec& l) { return l.laurel_rank > 0; }

// The LAuReL left matrix [rank, H] (GGUF has no rank key: its rows give it).
constexpr TensorRow kLaurelLeft = {"blk.%d.laurel_l.weight",
                                   "layers.%d.laurel.linear_left.weight",
                                   {Dim::kLaurelRank, Dim::kHidden},
                                   &LayerWeights::laurel_left,
                                   QuantRule::kNeverQuantized,
                                   Presence::kWhen,
                                   HasLaurel};

// Phi^-1(p) as HF computes it: torch.distributions.Normal(0, 1).icdf in
// float32, erfinv(2p - 1) * sqrt(2), with PyTorch's float erfinv
// (c10/util/math_compat calc_erfinv: a rational approximation and two Newton
// steps, 2 ulp below the correctly rounded value at p = 0.95; llama.cpp's
// converter writes the same 1.6448533535 into GGUF).
float NormalQuantile(double p) {
  const float y = 2.0f * static_cast<float>(p) - 1.0f;
  constexpr float a[4] = {0.886226899f, -1.645349621f, 0.914624893f, -0.140543331f};
  constexpr float b[4] = {-2.118377725f, 1.442710462f, -0.329097515f, 0.012229801f};
  constexpr float c[4] = {-1.970840454f, -1.624906493f, 3.429567803f, 1.641345311f};
  constexpr float d[2] = {3.543889200f, 1.637067800f};
  float x;
  if (std::fabs(y) <= 0.7f) {
    const float z = y * y;
    const float num = ((a[3] * z + a[2]) * z + a[1]) * z + a[0];
    const float dem = (((b[3] * z + b[2]) * z + b[1]) * z + b[0]) * z + 1.0f;
    x = y * num / dem;
  } else {
    const float z = std::sqrt(-std::log((1.0f - std::fabs(y)) / 2.0f));
    const float num = ((c[3] * z + c[2]) * z + c[1]) * z + c[0];
    const float dem = (d[1] * z + d[0]) * z + 1.0f;
    x = std::copysign(num, y) / dem;
  }
  const float k = 2.0f / static_cast<float>(std::sqrt(std::numbers::pi));
  for (int i = 0; i < 2; ++i) x = x - (std::erf(x) - y) / (k * std::exp(-x * x));
  return x * static_cast<float>(std::sqrt(2.0));
}

// Activation sparsity per layer: config.json's target sparsity p (0: dense),
// or GGUF's Phi^-1(p) (-inf: dense).
void SetActivationSparsity(const ModelConfig& config, ModelSpec& spec) {
  const int layers = spec.num_layers();
  if (config.is_gguf()) {
    const std::optional<std::vector<double>> scale =
        config.PerLayerNumbers("activation_sparsity_scale", layers);
    if (!scale) return;
    for (int i = 0; i < layers; ++i) {
      const double s = (*scale)[i];
      if (std::isinf(s) && s < 0) continue;
      if (!std::isfinite(s)) {
        Fail(config.origin(), ": ", config.Where("activation_sparsity_scale"), " entry ", i, " is ",
             s, " (a finite cut-off, or -inf for a dense layer)");
      }
      spec.layers[i].activation_sparsity = true;
      spec.layers[i].activation_sparsity_stddevs = static_cast<float>(s);
    }
    return;
  }
  const std::optional<std::vector<double>> pattern =
      config.PerLayerNumbers("activation_sparsity_pattern", layers);
  if (!pattern) return;
  for (int i = 0; i < layers; ++i) {
    const double p = (*pattern)[i];
    if (!(p >= 0 && p < 1)) {
      Fail(config.origin(), ": ", config.Where("activation_sparsity_pattern"), " entry ", i, " is ",
           p, " (a sparsity in [0, 1))");
    }
    if (p == 0) continue;
    spec.layers[i].activation_sparsity = true;
    spec.layers[i].activation_sparsity_stddevs = NormalQuantile(p);
  }
}

ModelSpec BuildGemma3nSpec(const ModelConfig& config, const TensorNamer& tensors, int vocab_size) {
  ModelSpec spec = ReadDecoderSpec(config, vocab_size);
  const RopeBases rope = ReadRopeBases(config);
  const int window = ReadSlidingWindow(config);
  const std::vector<bool> sliding =
      ReadSlidingLayers(config, spec.num_layers(), /*read_period=*/false, FifthLayersGlobal);
  for (int i = 0; i < spec.num_layers(); ++i) {
    LayerSpec& l = spec.layers[i];
    SetAttention(l, sliding[i], window);
    const bool global = l.attention == AttentionType::kGlobal;
    l.query_scale = 1.0f;
    l.rope_theta = global ? rope.global_theta : rope.local_theta;
    l.rope_linear_factor = global ? rope.global_linear_factor : 1.0f;
    l.qk_norm = true;
    l.value_norm = true;
    l.sandwich_norms = true;
  }
  SetKvSharing(config, spec);
  SetPerLayerInputs(config, tensors, spec);
  SetActivationSparsity(config, spec);

  // AltUp: the stream count (1 or absent: none) and the active stream.
  const int64_t streams = config.Integer("altup_num_inputs", 1, 64).value_or(1);
  if (streams > 1) {
    spec.altup_num_inputs = static_cast<int>(streams);
    spec.altup_active_idx =
        static_cast<int>(config.Integer("altup_active_idx", 0, streams - 1).value_or(0));
    if (!config.Bool("altup_correct_scale").value_or(true)) {
      Fail(config.origin(), ": ", config.Where("altup_correct_scale"),
           " false is not supported (released Gemma 3n scale the corrected output)");
    }
    for (LayerSpec& l : spec.layers) l.altup = true;
  }
  // LAuReL: config.json's laurel_rank; GGUF: the rows of a layer's laurel_l.
  std::optional<int64_t> rank = config.Integer("laurel_rank", 0, int64_t{1} << 16);
  if (config.is_gguf()) {
    rank.reset();
    if (const TensorEntry* t = tensors.Find(kLaurelLeft, 0); t != nullptr && t->shape.size() == 2) {
      rank = t->shape[0];
    }
  }
  if (rank && (*rank < 0 || *rank > (int64_t{1} << 16))) {
    Fail(config.origin(), ": implausible LAuReL rank ", *rank);
  }
  for (LayerSpec& l : spec.layers) l.laurel_rank = static_cast<int>(rank.value_or(0));
  return spec;
}

constexpr TensorRow kGemma3nRows[] = {
    rows::kEmbedding,
    rows::kOutputHead,
    rows::kFinalNorm,
    rows::kPerLayerEmbedding,
    rows::kPerLayerModelProjection,
    rows::kPerLayerProjectionNorm,
    // AltUp's projections from the embedding to streams 1.. and back: one
    // 3-D tensor in GGUF, one tensor per stream in HF checkpoints (bound in
    // row order; BindWeights checks that there are K - 1 of each; `gemma
    // quantize` stacks the parts in row order into the 3-D tensor, as
    // llama.cpp's converter does).
    // They, the AltUp router and LAuReL's matrices are never quantized:
    // llama-quantize skips every tensor named *altup* / *laurel* ("very
    // small"), so they stay f32 in quantized files and bf16 in a bf16 one.
    {"altup_proj.weight",
     nullptr,
     {Dim::kAltupOtherStreams, Dim::kHidden, Dim::kHidden},
     &ModelWeights::altup_projections,
     QuantRule::kNeverQuantized,
     Presence::kOptional},
    {"altup_unembd_proj.weight",
     nullptr,
     {Dim::kAltupOtherStreams, Dim::kHidden, Dim::kHidden},
     &ModelWeights::altup_unembed_projections,
     QuantRule::kNeverQuantized,
     Presence::kOptional},
    {nullptr,
     "altup_projections.0.weight",
     {Dim::kHidden, Dim::kHidden},
     &ModelWeights::altup_projections,
     QuantRule::kNeverQuantized,
     Presence::kOptional},
    {nullptr,
     "altup_projections.1.weight",
     {Dim::kHidden, Dim::kHidden},
     &ModelWeights::altup_projections,
     QuantRule::kNeverQuantized,
     Presence::kOptional},
    {nullptr,
     "altup_projections.2.weight",
     {Dim::kHidden, Dim::kHidden},
     &ModelWeights::altup_projections,
     QuantRule::kNeverQuantized,
     Presence::kOptional},
    {nullptr,
     "altup_unembed_projections.0.weight",
     {Dim::kHidden, Dim::kHidden},
     &ModelWeights::altup_unembed_projections,
     QuantRule::kNeverQuantized,
     Presence::kOptional},
    {nullptr,
     "altup_unembed_projections.1.weight",
     {Dim::kHidden, Dim::kHidden},
     &ModelWeights::altup_unembed_projections,
     QuantRule::kNeverQuantized,
     Presence::kOptional},
    {nullptr,
     "altup_unembed_projections.2.weight",
     {Dim::kHidden, Dim::kHidden},
     &ModelWeights::altup_unembed_projections,
     QuantRule::kNeverQuantized,
     Presence::kOptional},
    rows::kQ,
    rows::kOwnK,
    rows::kOwnV,
    rows::kO,
    rows::kGate,
    rows::kUp,
    rows::kDown,
    rows::kInputNorm,
    rows::kQNorm,
    rows::kOwnKNorm,
    rows::kPreFeedforwardNorm,
    rows::kPostAttentionNorm,
    rows::kPostFeedforwardNorm,
    rows::kPerLayerInputGate,
    rows::kPerLayerProjection,
    rows::kPostPerLayerInputNorm,
    // AltUp per layer (small; f32 copies): the router's norm and projection,
    // the prediction and correction coefficients, the corrected output's
    // scale. The coefficients stay f32 in every file: llama.cpp's converter
    // writes ALTUP_PREDICT_COEF / ALTUP_CORRECT_COEF as f32 whatever the
    // output type; the router is never quantized (above).
    {"blk.%d.altup_router_norm.weight",
     "layers.%d.altup.router_norm.weight",
     {Dim::kHidden},
     &LayerWeights::altup_router_norm,
     QuantRule::kF32,
     Presence::kWhen,
     RunsAltUp},
    {"blk.%d.altup_router.weight",
     "layers.%d.altup.modality_router.weight",
     {Dim::kAltupStreams, Dim::kHidden},
     &LayerWeights::altup_router,
     QuantRule::kNeverQuantized,
     Presence::kWhen,
     RunsAltUp},
    {"blk.%d.altup_predict_coef.weight",
     "layers.%d.altup.prediction_coefs.weight",
     {Dim::kAltupStreamPairs, Dim::kAltupStreams},
     &LayerWeights::altup_prediction_coefs,
     QuantRule::kF32,
     Presence::kWhen,
     RunsAltUp},
    {"blk.%d.altup_correct_coef.weight",
     "layers.%d.altup.correction_coefs.weight",
     {Dim::kAltupStreams, Dim::kAltupStreams},
     &LayerWeights::altup_correction_coefs,
     QuantRule::kF32,
     Presence::kWhen,
     RunsAltUp},
    {"blk.%d.altup_correct_scale.weight",
     "layers.%d.altup.correct_output_scale",
     {Dim::kHidden},
     &LayerWeights::altup_correct_output_scale,
     QuantRule::kF32,
     Presence::kWhen,
     RunsAltUp},
    // LAuReL: left, right, and the norm after them.
    kLaurelLeft,
    {"blk.%d.laurel_r.weight",
     "layers.%d.laurel.linear_right.weight",
     {Dim::kHidden, Dim::kLaurelRank},
     &LayerWeights::laurel_right,
     QuantRule::kNeverQuantized,
     Presence::kWhen,
     HasLaurel},
    {"blk.%d.laurel_post_norm.weight",
     "layers.%d.laurel.post_laurel_norm.weight",
     {Dim::kHidden},
     &LayerWeights::laurel_post_norm,
     QuantRule::kF32,
     Presence::kWhen,
     HasLaurel},
};

}  // namespace

constexpr Generation kGemma3n = {
    .gguf_architecture = "gemma3n",
    .hf_model_type = "gemma3n_text",
    .hf_multimodal_type = "gemma3n",
    .build_spec = BuildGemma3nSpec,
    .rows = kGemma3nRows,
    .hf_norm_offset = 0.0f,
};

}  // namespace gemma
