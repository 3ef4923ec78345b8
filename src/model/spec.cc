#include "model/spec.h"

#include <cmath>

#include "base/error.h"

namespace gemma {

void ModelSpec::Validate(const std::string& origin) const {
  auto bad = [&](const std::string& what) {
    Fail(origin, ": invalid model configuration: ", what);
  };
  if (vocab_size <= 0) bad("vocab_size must be positive");
  if (hidden_size <= 0) bad("hidden_size must be positive");
  if (layers.empty()) bad("no layers");
  // A config's number past float's range becomes Inf in the spec: refused
  // here rather than turned into Inf or NaN logits.
  if (!(rms_norm_eps > 0) || !std::isfinite(rms_norm_eps))
    bad("rms_norm_eps must be positive and within float range");
  if (!std::isfinite(embedding_scale) || !std::isfinite(final_logit_softcap))
    bad("final_logit_softcapping or the embedding scale is outside float range");
  if (context_length <= 0) bad("context length must be positive");
  if (per_layer_input_size < 0 || per_layer_input_size > 65536 ||
      (per_layer_input_size > 0 && per_layer_vocab_size <= 0)) {
    bad("per-layer input width or table size out of range");
  }
  if (per_layer_input_size > 0 &&
      (per_layer_input_slots < num_layers() || per_layer_input_slots > (1 << 12))) {
    bad("per-layer input tables hold fewer slices than there are layers");
  }
  if (altup_num_inputs < 0 || altup_num_inputs == 1 || altup_num_inputs > 64 ||
      (altup_num_inputs > 0 && (altup_active_idx < 0 || altup_active_idx >= altup_num_inputs))) {
    bad("AltUp stream count (at least 2) or active stream out of range");
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& l = layers[i];
    const std::string at = "layer " + std::to_string(i) + ": ";
    if (l.num_attention_heads <= 0 || l.num_key_value_heads <= 0)
      bad(at + "head counts must be positive");
    if (l.num_attention_heads % l.num_key_value_heads != 0) {
      bad(at + "query heads must be a multiple of key/value heads");
    }
    if (l.head_dim <= 0 || l.head_dim % 2 != 0 || l.head_dim > 1024)
      bad(at + "head_dim must be even");
    if (l.intermediate_size <= 0) bad(at + "intermediate_size must be positive");
    if (!(l.query_scale > 0) || !std::isfinite(l.query_scale) ||
        !std::isfinite(l.attn_logit_softcap)) {
      bad(at + "query scale or attention soft-cap outside float range");
    }
    if (!(l.rope_theta > 1) || !(l.rope_linear_factor > 0) || !std::isfinite(l.rope_theta) ||
        !std::isfinite(l.rope_linear_factor) ||
        !(l.rope_partial_factor >= 0 && l.rope_partial_factor <= 1)) {
      bad(at + "invalid RoPE parameters");
    }
    if (l.k_eq_v && l.kv_source_layer >= 0) bad(at + "K = V on a layer without its own K/V");
    if (l.attention == AttentionType::kSliding && l.sliding_window <= 0) {
      bad(at + "sliding layer without a window");
    }
    if (l.kv_source_layer >= static_cast<int>(i) || l.kv_source_layer < -1) {
      bad(at + "its KV must come from an earlier layer");
    }
    if (l.kv_source_layer >= 0) {
      const LayerSpec& src = layers[l.kv_source_layer];
      if (src.kv_source_layer >= 0 || src.attention != l.attention ||
          src.sliding_window != l.sliding_window || src.head_dim != l.head_dim ||
          src.num_key_value_heads != l.num_key_value_heads) {
        bad(at + "shares the KV of layer " + std::to_string(l.kv_source_layer) +
            ", which has its own K/V of another type, window or shape");
      }
    }
    if (l.num_experts < 0 || l.num_experts > 4096 ||
        (l.num_experts > 0 &&
         (l.num_experts_per_token <= 0 || l.num_experts_per_token > l.num_experts ||
          l.expert_intermediate_size <= 0 || l.expert_intermediate_size > (1 << 20)))) {
      bad(at + "expert count, experts per token or expert width out of range");
    }
    if (l.altup != (altup_num_inputs > 0)) bad(at + "AltUp on some layers only");
    if (l.laurel_rank < 0 || l.laurel_rank > (1 << 16)) bad(at + "LAuReL rank out of range");
    if (l.activation_sparsity && !std::isfinite(l.activation_sparsity_stddevs)) {
      bad(at + "activation sparsity cut-off outside float range");
    }
    if (l.per_layer_input && per_layer_input_size <= 0) {
      bad(at + "per-layer input without a per-layer input width");
    }
    if (l.per_layer_input &&
        (l.per_layer_input_slot < 0 || l.per_layer_input_slot >= per_layer_input_slots)) {
      bad(at + "per-layer input slice out of range");
    }
  }
}

std::vector<KvLayerShape> KvShapes(const ModelSpec& spec) {
  std::vector<KvLayerShape> shapes;
  for (const LayerSpec& l : spec.layers) {
    shapes.push_back({l.num_key_value_heads, l.head_dim,
                      l.attention == AttentionType::kSliding ? l.sliding_window : 0,
                      l.kv_source_layer});
  }
  return shapes;
}

}  // namespace gemma
