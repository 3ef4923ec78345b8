// Gemma 4, the text decoder: five sliding layers to one global (E2B: four).
// Global layers have their own head size (global_head_dim) and, with K = V
// (attention_k_eq_v, 31B / 26B), their own KV head count
// (num_global_key_value_heads), no v_proj (V is the raw key projection) and
// "proportional" RoPE (only the first partial_rotary_factor of the frequency
// pairs rotate, the exponent still over the full head). Every layer: q/k
// RMSNorm with gains, v RMSNorm without, query scale 1, sandwich norms, a
// learned scalar on the layer's output. Norm gains are stored as the gain
// itself (no 1 + w), in both formats. Final soft-cap.
// E2B / E4B: per-layer embeddings (PLE, hidden_size_per_layer_input), and KV
// sharing: the last num_kv_shared_layers layers have no K/V of their own and
// attend over the cache of the last non-shared layer of their type (HF's
// rule; llama.cpp hard-codes first_shared - 1 / - 2), with a double-wide MLP
// when use_double_wide_mlp (GGUF: feed_forward_length per layer).
// 26B-A4B: mixture-of-experts layers (enable_moe_block, num_experts,
// top_k_experts, moe_intermediate_size; GGUF expert_count, ...): a router
// and num_experts GeGLU experts beside the dense MLP, each branch with its
// own norms (LayerSpec::num_experts; the forward pass's MixtureOfExperts).
// Shared spec gemma-architecture.md section 6 (6.5: MoE), model-configs.md
// section 5; reference HF modeling_gemma4.py.
#include <cstring>
#include <optional>
#include <string>

#include "base/error.h"
#include "io/tensor_catalog.h"
#include "model/builder_common.h"
#include "model/gemma_rows.h"
#include "model/generation.h"

namespace gemma {
namespace {

// Layer i is global iff (i + 1) % 6 == 0, unless the file lists layer_types
// (GGUF: the sliding_window_pattern bool array).
bool SixthLayersGlobal(int layer) { return (layer + 1) % 6 != 0; }

bool IsMoe(const LayerSpec& l) { return l.moe(); }

// GGUF only: llama.cpp's converter writes the proportional RoPE of the
// global layers as a divisor per frequency pair (1: rotates; 1e30: passes
// through).
constexpr TensorRow kRopeFreqs = {"rope_freqs.weight",     nullptr,
                                  {Dim::kGlobalRopePairs}, &ModelWeights::rope_freqs,
                                  QuantRule::kF32,         Presence::kOptional};

// Divisors at least this large stop a pair from rotating (cos 1, sin ~0).
constexpr float kNoRotationDivisor = 1e20f;

// The fraction of the global layers' frequency pairs that rotate, from
// GGUF's rope_freqs (1 when the file has none): divisors 1 for the first
// pairs, kNoRotationDivisor or more for the rest; anything else is a RoPE
// this engine does not compute.
float PartialFactorFromRopeFreqs(const ModelConfig& config, const TensorNamer& tensors) {
  const TensorEntry* t = tensors.Find(kRopeFreqs, -1);
  if (t == nullptr) return 1.0f;
  if (t->type != DType::kF32 || t->shape.size() != 1 || t->shape[0] <= 0) {
    Fail(config.origin(), ": tensor '", t->name, "' should be a 1-D f32 vector but has type ",
         Name(t->type), " and shape ", t->ShapeString());
  }
  const int64_t pairs = t->shape[0];
  std::vector<float> divisors(static_cast<size_t>(pairs));
  std::memcpy(divisors.data(), t->data, divisors.size() * sizeof(float));
  int64_t rotated = 0;
  while (rotated < pairs && divisors[rotated] == 1.0f) ++rotated;
  for (int64_t i = rotated; i < pairs; ++i) {
    if (!(divisors[i] >= kNoRotationDivisor)) {
      Fail(config.origin(), ": tensor '", t->name, "' entry ", i, " is ", divisors[i],
           ": only proportional RoPE (divisors 1, then 1e30) is supported");
    }
  }
  return static_cast<float>(rotated) / static_cast<float>(pairs);
}

struct Gemma4Rope {
  float local_theta = 10000.0f;
  float global_theta = 1000000.0f;
  float global_linear_factor = 1.0f;
  float global_partial_factor = 1.0f;
};

// rope_parameters per layer type (config.json; rope_theta and
// rope_local_base_freq in GGUF), the partial factor from rope_parameters
// or GGUF's rope_freqs.
Gemma4Rope ReadGemma4Rope(const ModelConfig& config, const TensorNamer& tensors) {
  Gemma4Rope r;
  r.global_theta =
      static_cast<float>(config.Number("rope_parameters.full_attention.rope_theta")
                             .value_or(config.Number("rope_theta").value_or(r.global_theta)));
  r.local_theta = static_cast<float>(
      config.Number("rope_parameters.sliding_attention.rope_theta")
          .value_or(config.Number("rope_local_base_freq").value_or(r.local_theta)));
  if (config.is_gguf()) {
    r.global_partial_factor = PartialFactorFromRopeFreqs(config, tensors);
    return r;
  }
  const std::string type =
      config.String("rope_parameters.full_attention.rope_type").value_or("default");
  if (type == "proportional") {
    r.global_partial_factor = static_cast<float>(
        config.Number("rope_parameters.full_attention.partial_rotary_factor").value_or(1.0));
    r.global_linear_factor =
        static_cast<float>(config.Number("rope_parameters.full_attention.factor").value_or(1.0));
  } else if (type != "default") {
    Fail(config.origin(), ": unsupported rope type '", type, "' (",
         config.Where("rope_parameters.full_attention.rope_type"), ")");
  }
  const std::string local_type =
      config.String("rope_parameters.sliding_attention.rope_type").value_or("default");
  if (local_type != "default") {
    Fail(config.origin(), ": unsupported rope type '", local_type, "' (",
         config.Where("rope_parameters.sliding_attention.rope_type"), ")");
  }
  return r;
}

// Mixture-of-experts layers (26B-A4B): every layer when the file has
// experts (num_experts > 0; config.json: unless enable_moe_block is false).
void SetExperts(const ModelConfig& config, ModelSpec& spec) {
  const int64_t experts = config.Integer("num_experts", 0, 4096).value_or(0);
  if (experts == 0 || !config.Bool("enable_moe_block").value_or(true)) return;
  const std::optional<int64_t> top_k = config.Integer("top_k_experts", 1, experts);
  const std::optional<int64_t> width = config.Integer("moe_intermediate_size", 1, int64_t{1} << 20);
  if (!top_k || !width) {
    Fail(config.origin(), ": mixture-of-experts layers (", config.Where("num_experts"), ") need ",
         config.Where(top_k ? "moe_intermediate_size" : "top_k_experts"));
  }
  for (LayerSpec& l : spec.layers) {
    l.num_experts = static_cast<int>(experts);
    l.num_experts_per_token = static_cast<int>(*top_k);
    l.expert_intermediate_size = static_cast<int>(*width);
  }
}

ModelSpec BuildGemma4Spec(const ModelConfig& config, const TensorNamer& tensors, int vocab_size) {
  ModelSpec spec = ReadDecoderSpec(config, vocab_size);
  const Gemma4Rope rope = ReadGemma4Rope(config, tensors);
  const int window = ReadSlidingWindow(config);
  const std::vector<bool> sliding =
      ReadSlidingLayers(config, spec.num_layers(), /*read_period=*/false, SixthLayersGlobal);
  // GGUF: key_length is global_head_dim, head_count_kv already per layer;
  // num_global_key_value_heads and attention_k_eq_v are config.json only
  // (GGUF: the global layers without attn_v are the K = V ones).
  const std::optional<int64_t> global_head_dim = config.Integer("global_head_dim", 1, 1024);
  const std::optional<int64_t> global_kv_heads =
      config.Integer("num_global_key_value_heads", 1, 1024);
  const std::optional<bool> k_eq_v = config.Bool("attention_k_eq_v");
  for (int i = 0; i < spec.num_layers(); ++i) {
    LayerSpec& l = spec.layers[i];
    SetAttention(l, sliding[i], window);
    const bool global = l.attention == AttentionType::kGlobal;
    if (global) {
      if (global_head_dim) l.head_dim = static_cast<int>(*global_head_dim);
      l.k_eq_v = k_eq_v ? *k_eq_v : tensors.Find(rows::kV, i) == nullptr;
      if (l.k_eq_v && global_kv_heads) l.num_key_value_heads = static_cast<int>(*global_kv_heads);
    }
    l.query_scale = 1.0f;
    l.rope_theta = global ? rope.global_theta : rope.local_theta;
    l.rope_linear_factor = global ? rope.global_linear_factor : 1.0f;
    l.rope_partial_factor = global ? rope.global_partial_factor : 1.0f;
    l.qk_norm = true;
    l.value_norm = true;
    l.sandwich_norms = true;
    l.layer_scalar = true;
  }
  const int first_shared = SetKvSharing(config, spec);
  // config.json: the shared layers' MLP is twice as wide (GGUF lists the
  // widths per layer instead).
  if (config.Bool("use_double_wide_mlp").value_or(false)) {
    for (int i = first_shared; i < spec.num_layers(); ++i) spec.layers[i].intermediate_size *= 2;
  }
  SetPerLayerInputs(config, tensors, spec);
  SetExperts(config, spec);
  return spec;
}

constexpr TensorRow kGemma4Rows[] = {
    rows::kEmbedding,
    rows::kOutputHead,
    rows::kFinalNorm,
    kRopeFreqs,
    rows::kPerLayerEmbedding,
    rows::kPerLayerModelProjection,
    rows::kPerLayerProjectionNorm,
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
    {"blk.%d.layer_output_scale.weight",
     "layers.%d.layer_scalar",
     {Dim::kOne},
     &LayerWeights::layer_scalar,
     QuantRule::kF32},
    rows::kPerLayerInputGate,
    rows::kPerLayerProjection,
    rows::kPostPerLayerInputNorm,
    // Mixture of experts: the router (its gain on the weightless-normed
    // residual, its projection, kept f32 as llama.cpp does), the experts
    // (3-D, bound per expert) and the per-expert output scale, and the
    // norms of the two branches.
    {"blk.%d.ffn_gate_inp.scale",
     "layers.%d.router.scale",
     {Dim::kHidden},
     &LayerWeights::router_scale,
     QuantRule::kF32,
     Presence::kWhen,
     IsMoe},
    {"blk.%d.ffn_gate_inp.weight",
     "layers.%d.router.proj.weight",
     {Dim::kExperts, Dim::kHidden},
     &LayerWeights::router_proj,
     QuantRule::kF32,
     Presence::kWhen,
     IsMoe},
    {"blk.%d.ffn_down_exps.scale",
     "layers.%d.router.per_expert_scale",
     {Dim::kExperts},
     &LayerWeights::per_expert_scale,
     QuantRule::kF32,
     Presence::kWhen,
     IsMoe},
    {"blk.%d.ffn_gate_up_exps.weight",
     "layers.%d.experts.gate_up_proj",
     {Dim::kExperts, Dim::kExpertGateUp, Dim::kHidden},
     &LayerWeights::expert_gate_up,
     QuantRule::kBase,
     Presence::kWhen,
     IsMoe},
    {"blk.%d.ffn_down_exps.weight",
     "layers.%d.experts.down_proj",
     {Dim::kExperts, Dim::kHidden, Dim::kExpertFfn},
     &LayerWeights::expert_down,
     QuantRule::kBase,
     Presence::kWhen,
     IsMoe},
    {"blk.%d.post_ffw_norm_1.weight",
     "layers.%d.post_feedforward_layernorm_1.weight",
     {Dim::kHidden},
     &LayerWeights::post_feedforward_norm_1,
     QuantRule::kF32,
     Presence::kWhen,
     IsMoe},
    {"blk.%d.pre_ffw_norm_2.weight",
     "layers.%d.pre_feedforward_layernorm_2.weight",
     {Dim::kHidden},
     &LayerWeights::pre_feedforward_norm_2,
     QuantRule::kF32,
     Presence::kWhen,
     IsMoe},
    {"blk.%d.post_ffw_norm_2.weight",
     "layers.%d.post_feedforward_layernorm_2.weight",
     {Dim::kHidden},
     &LayerWeights::post_feedforward_norm_2,
     QuantRule::kF32,
     Presence::kWhen,
     IsMoe},
};

}  // namespace

constexpr Generation kGemma4 = {
    .gguf_architecture = "gemma4",
    .hf_model_type = "gemma4_text",
    .hf_multimodal_type = "gemma4",
    .build_spec = BuildGemma4Spec,
    .rows = kGemma4Rows,
    .hf_norm_offset = 0.0f,
};

}  // namespace gemma
