// The tensor rows Gemma 1, 2 and 3 share, and those Gemma 3n and 4 share:
// a generation's table (gemma1.cc, ...) lists the ones its layers have.
// Names: shared spec weight-formats.md sections A.3 and B.5.
#pragma once

#include "model/tensor_rows.h"

namespace gemma::rows {

inline constexpr TensorRow kEmbedding = {"token_embd.weight",
                                         "embed_tokens.weight",
                                         {Dim::kVocab, Dim::kHidden},
                                         &ModelWeights::embedding,
                                         QuantRule::kEmbedding};
// Gemma ties the output head to the embedding; a GGUF may still carry its own
// copy (e.g. quantized to another type). HF's lm_head.weight is always a
// copy of the embedding in Gemma checkpoints and is not read.
inline constexpr TensorRow kOutputHead = {"output.weight",
                                          nullptr,
                                          {Dim::kVocab, Dim::kHidden},
                                          &ModelWeights::output_head,
                                          QuantRule::kOutputHead,
                                          Presence::kOptional};
inline constexpr TensorRow kFinalNorm = {"output_norm.weight",
                                         "norm.weight",
                                         {Dim::kHidden},
                                         &ModelWeights::final_norm,
                                         QuantRule::kF32};

inline constexpr TensorRow kQ = {"blk.%d.attn_q.weight",
                                 "layers.%d.self_attn.q_proj.weight",
                                 {Dim::kQWidth, Dim::kHidden},
                                 &LayerWeights::q_proj};
inline constexpr TensorRow kK = {"blk.%d.attn_k.weight",
                                 "layers.%d.self_attn.k_proj.weight",
                                 {Dim::kKvWidth, Dim::kHidden},
                                 &LayerWeights::k_proj};
inline constexpr TensorRow kV = {"blk.%d.attn_v.weight",
                                 "layers.%d.self_attn.v_proj.weight",
                                 {Dim::kKvWidth, Dim::kHidden},
                                 &LayerWeights::v_proj,
                                 QuantRule::kMoreBits};
inline constexpr TensorRow kO = {"blk.%d.attn_output.weight",
                                 "layers.%d.self_attn.o_proj.weight",
                                 {Dim::kHidden, Dim::kQWidth},
                                 &LayerWeights::o_proj};
inline constexpr TensorRow kGate = {"blk.%d.ffn_gate.weight",
                                    "layers.%d.mlp.gate_proj.weight",
                                    {Dim::kFfn, Dim::kHidden},
                                    &LayerWeights::gate_proj};
inline constexpr TensorRow kUp = {"blk.%d.ffn_up.weight",
                                  "layers.%d.mlp.up_proj.weight",
                                  {Dim::kFfn, Dim::kHidden},
                                  &LayerWeights::up_proj};
inline constexpr TensorRow kDown = {"blk.%d.ffn_down.weight",
                                    "layers.%d.mlp.down_proj.weight",
                                    {Dim::kHidden, Dim::kFfn},
                                    &LayerWeights::down_proj,
                                    QuantRule::kMoreBits};

inline constexpr TensorRow kInputNorm = {"blk.%d.attn_norm.weight",
                                         "layers.%d.input_layernorm.weight",
                                         {Dim::kHidden},
                                         &LayerWeights::input_norm,
                                         QuantRule::kF32};
// Per-head RMSNorm of q and k (Gemma 3 and later).
inline constexpr TensorRow kQNorm = {"blk.%d.attn_q_norm.weight",
                                     "layers.%d.self_attn.q_norm.weight",
                                     {Dim::kHeadDim},
                                     &LayerWeights::q_norm,
                                     QuantRule::kF32};
inline constexpr TensorRow kKNorm = {"blk.%d.attn_k_norm.weight",
                                     "layers.%d.self_attn.k_norm.weight",
                                     {Dim::kHeadDim},
                                     &LayerWeights::k_norm,
                                     QuantRule::kF32};
// Sandwich norms (Gemma 2 and later): GGUF's ffn_norm is the pre-MLP norm in
// every generation, HF's post_attention_layernorm only from Gemma 2 on
// (Gemma 1 calls its pre-MLP norm that; gemma1.cc).
inline constexpr TensorRow kPreFeedforwardNorm = {"blk.%d.ffn_norm.weight",
                                                  "layers.%d.pre_feedforward_layernorm.weight",
                                                  {Dim::kHidden},
                                                  &LayerWeights::pre_feedforward_norm,
                                                  QuantRule::kF32};
inline constexpr TensorRow kPostAttentionNorm = {"blk.%d.post_attention_norm.weight",
                                                 "layers.%d.post_attention_layernorm.weight",
                                                 {Dim::kHidden},
                                                 &LayerWeights::post_attention_norm,
                                                 QuantRule::kF32};
inline constexpr TensorRow kPostFeedforwardNorm = {"blk.%d.post_ffw_norm.weight",
                                                   "layers.%d.post_feedforward_layernorm.weight",
                                                   {Dim::kHidden},
                                                   &LayerWeights::post_feedforward_norm,
                                                   QuantRule::kF32};

// Gemma 3n / 4: layers that share another layer's K/V (kv_source_layer)
// have no k_proj, k_norm or v_proj of their own (Gemma 3n ships unused
// ones: not read); K = V layers (Gemma 4) no v_proj.
inline bool HasOwnKv(const LayerSpec& l) { return l.kv_source_layer < 0; }
inline bool HasValueProjection(const LayerSpec& l) { return HasOwnKv(l) && !l.k_eq_v; }
inline bool TakesPerLayerInput(const LayerSpec& l) { return l.per_layer_input; }

inline constexpr TensorRow kOwnK = {"blk.%d.attn_k.weight",
                                    "layers.%d.self_attn.k_proj.weight",
                                    {Dim::kKvWidth, Dim::kHidden},
                                    &LayerWeights::k_proj,
                                    QuantRule::kBase,
                                    Presence::kWhen,
                                    HasOwnKv};
inline constexpr TensorRow kOwnV = {"blk.%d.attn_v.weight",
                                    "layers.%d.self_attn.v_proj.weight",
                                    {Dim::kKvWidth, Dim::kHidden},
                                    &LayerWeights::v_proj,
                                    QuantRule::kMoreBits,
                                    Presence::kWhen,
                                    HasValueProjection};
inline constexpr TensorRow kOwnKNorm = {"blk.%d.attn_k_norm.weight",
                                        "layers.%d.self_attn.k_norm.weight",
                                        {Dim::kHeadDim},
                                        &LayerWeights::k_norm,
                                        QuantRule::kF32,
                                        Presence::kWhen,
                                        HasOwnKv};

// Per-layer embeddings (Gemma 3n / 4 E2B, E4B): the token table, the
// projection of the embedding (f32 in quantized files, as llama-quantize
// leaves it in the golden q8_0 / q4_0 files) and its norm (model level), and
// each layer's gate, projection and norm.
inline constexpr TensorRow kPerLayerEmbedding = {"per_layer_token_embd.weight",
                                                 "embed_tokens_per_layer.weight",
                                                 {Dim::kPerLayerVocab, Dim::kPerLayerInputs},
                                                 &ModelWeights::per_layer_embedding,
                                                 QuantRule::kOutputHead,  // as llama-quantize
                                                 Presence::kWhen,
                                                 TakesPerLayerInput};
inline constexpr TensorRow kPerLayerModelProjection = {"per_layer_model_proj.weight",
                                                       "per_layer_model_projection.weight",
                                                       {Dim::kPerLayerInputs, Dim::kHidden},
                                                       &ModelWeights::per_layer_model_projection,
                                                       QuantRule::kNeverQuantized,
                                                       Presence::kWhen,
                                                       TakesPerLayerInput};
inline constexpr TensorRow kPerLayerProjectionNorm = {"per_layer_proj_norm.weight",
                                                      "per_layer_projection_norm.weight",
                                                      {Dim::kPerLayerInput},
                                                      &ModelWeights::per_layer_projection_norm,
                                                      QuantRule::kF32,
                                                      Presence::kWhen,
                                                      TakesPerLayerInput};
inline constexpr TensorRow kPerLayerInputGate = {"blk.%d.inp_gate.weight",
                                                 "layers.%d.per_layer_input_gate.weight",
                                                 {Dim::kPerLayerInput, Dim::kHidden},
                                                 &LayerWeights::per_layer_input_gate,
                                                 QuantRule::kBase,
                                                 Presence::kWhen,
                                                 TakesPerLayerInput};
inline constexpr TensorRow kPerLayerProjection = {"blk.%d.proj.weight",
                                                  "layers.%d.per_layer_projection.weight",
                                                  {Dim::kHidden, Dim::kPerLayerInput},
                                                  &LayerWeights::per_layer_projection,
                                                  QuantRule::kBase,
                                                  Presence::kWhen,
                                                  TakesPerLayerInput};
inline constexpr TensorRow kPostPerLayerInputNorm = {"blk.%d.post_norm.weight",
                                                     "layers.%d.post_per_layer_input_norm.weight",
                                                     {Dim::kHidden},
                                                     &LayerWeights::post_per_layer_input_norm,
                                                     QuantRule::kF32,
                                                     Presence::kWhen,
                                                     TakesPerLayerInput};

}  // namespace gemma::rows
