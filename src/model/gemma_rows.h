// The tensor rows Gemma 1, 2 and 3 share (and Gemma 3n/4 will list too):
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

}  // namespace gemma::rows
