// ModelSpec / LayerSpec: every switch the forward pass reads, built once from a
// GGUF file's metadata or a Hugging Face config.json by the generation's
// builder (generation.h). A generation is data, not a code path: the
// transformer branches on these fields only, never on the model's name.
// Fields are named after the HF config keys they come from.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "memory/kv_memory.h"

namespace gemma {

struct ModelSource;

enum class AttentionType { kGlobal, kSliding };

struct LayerSpec {
  AttentionType attention = AttentionType::kGlobal;
  int sliding_window = 0;  // keys visible = the last `sliding_window` positions incl. self
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;
  int intermediate_size = 0;
  float query_scale = 1.0f;         // multiplies q . k
  float attn_logit_softcap = 0.0f;  // 0: none
  float rope_theta = 10000.0f;
  float rope_linear_factor = 1.0f;  // positions divided by this (Gemma 3 4B+ global layers)
  // The fraction of the head_dim / 2 frequency pairs that rotate: f_i =
  // theta^(-2i / head_dim) for i < rope_partial_factor * head_dim / 2, 0 (the
  // pair passes through) beyond. 1: all of them. Gemma 4's "proportional"
  // RoPE on global layers (0.25): the exponent keeps the full head_dim.
  float rope_partial_factor = 1.0f;
  bool qk_norm = false;     // per-head RMSNorm of q and k before RoPE (Gemma 3)
  bool value_norm = false;  // per-head RMSNorm of v without a gain (Gemma 3n/4)
  // V is the raw key projection (before k_norm and RoPE); the layer has no
  // v_proj (Gemma 4 31B / 26B global layers: attention_k_eq_v).
  bool k_eq_v = false;
  bool sandwich_norms = false;  // post-attention and post-FFW norms (Gemma 2/3)
  // The layer's output (the whole residual stream) is multiplied by its
  // learned scalar (Gemma 4's layer_scalar).
  bool layer_scalar = false;
  // >= 0: the layer has no K/V projection and no cache of its own; it
  // attends over the K/V that earlier layer stored (Gemma 3n/4 KV sharing:
  // the last non-shared layer of the same attention type). The KV memory
  // aliases the two layers' rows (KvLayerShape::source_layer).
  int kv_source_layer = -1;
  // After the MLP, the layer adds its slice of the per-layer embeddings
  // (ModelSpec::per_layer_input_size): h += post_norm(proj(gelu(gate(h)) *
  // ple_l)) (Gemma 3n/4 E2B/E4B).
  bool per_layer_input = false;
  // Which per-layer slice of the PLE tables the layer reads: its own index,
  // unless MatFormer slicing dropped earlier layers (model/matformer.h).
  int per_layer_input_slot = 0;
  // Mixture of experts in parallel with the dense MLP (Gemma 4 26B-A4B):
  // a router on the residual stream picks num_experts_per_token of
  // num_experts GeGLU experts of width expert_intermediate_size per token.
  // 0 experts: a plain MLP layer.
  int num_experts = 0;
  int num_experts_per_token = 0;
  int expert_intermediate_size = 0;
  bool moe() const { return num_experts > 0; }
  // Gemma 3n: the layer runs inside the AltUp streams (ModelSpec::altup_num_inputs):
  // predict the streams, the block on the active one, correct them, the
  // per-layer input into the others (altup.cc).
  bool altup = false;
  // Gemma 3n's LAuReL branch beside attention: n + post_norm(right(left(n)))
  // with left [rank, H], right [H, rank], n the attention's normed input; 0: none.
  int laurel_rank = 0;
  // Gemma 3n's activation sparsity ("gaussian top-k") on the MLP's gate:
  // g = relu(g - mean(g) - std(g) * activation_sparsity_stddevs) before the
  // GELU (std over the row's F values, population); HF's
  // activation_sparsity_pattern p gives Phi^-1(p), GGUF stores it.
  bool activation_sparsity = false;
  float activation_sparsity_stddevs = 0.0f;
};

struct ModelSpec {
  std::string architecture;  // GGUF name of the generation: "gemma", "gemma2", "gemma3"
  int vocab_size = 0;
  int hidden_size = 0;
  int context_length = 0;  // max_position_embeddings
  float rms_norm_eps = 1e-6f;
  float embedding_scale = 1.0f;      // sqrt(hidden_size), in f32
  float final_logit_softcap = 0.0f;  // 0: none
  std::vector<LayerSpec> layers;
  // Per-layer embeddings (PLE, Gemma 3n/4 E2B/E4B): every token gets one
  // input of this width per layer, (RMSNorm(proj(x0) * H^-1/2) +
  // table[token] * sqrt(width)) * 2^-1/2; 0: none. The table
  // [per_layer_vocab_size, layers * width] stays in the mapped file and only
  // the batch's rows are read.
  int per_layer_input_size = 0;
  int per_layer_vocab_size = 0;
  // Layers the PLE tables hold a slice for: num_layers(), or more where
  // MatFormer slicing dropped layers (their slices are computed, not read).
  int per_layer_input_slots = 0;
  size_t per_layer_input_width() const {
    return static_cast<size_t>(per_layer_input_slots) * per_layer_input_size;
  }
  // Gemma 3n's AltUp: this many copies ("streams") of the residual stream,
  // the layers processing stream altup_active_idx; 0: none.
  int altup_num_inputs = 0;
  int altup_active_idx = 0;
  // Special ids the prompt format needs (-1 when the vocabulary lacks them).
  int32_t bos_id = 2;
  int32_t eos_id = 1;

  int num_layers() const { return static_cast<int>(layers.size()); }
  // Throws gemma::Error (prefixed with `origin`) when a field is out of range.
  void Validate(const std::string& origin) const;
};

// Reads the source's config (GGUF metadata or config.json) through its
// generation's builder (generation.h) and validates the spec. Throws
// gemma::Error naming the file and key for an unknown architecture or
// model_type, a missing or invalid key, or an implausible size. The
// vocabulary size is the embedding's row count.
ModelSpec BuildModelSpec(const ModelSource& source);

// The KV cache's view of the layers.
std::vector<KvLayerShape> KvShapes(const ModelSpec& spec);

}  // namespace gemma
