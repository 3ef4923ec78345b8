// What every Gemma builder reads the same way, under config.json's names
// (io/model_config.h translates GGUF keys): sizes, per layer where the file
// lists them; RoPE bases; the sliding-window pattern; special ids. Bounds
// are checked before anything is sized by them.
#pragma once

#include <vector>

#include "io/model_config.h"
#include "model/spec.h"
#include "model/tensor_rows.h"

namespace gemma {

// A spec with every layer filled from the sizes (heads, KV heads, head_dim,
// FFN width: one value for all layers or one per layer), global attention
// and RoPE base 10000 until the builder says otherwise; plus context length,
// RMSNorm epsilon, embedding scale, final soft-cap and the special ids.
ModelSpec ReadDecoderSpec(const ModelConfig& config, int vocab_size);

struct RopeBases {
  float global_theta = 10000.0f;
  float local_theta = 10000.0f;  // sliding layers (Gemma 3 and later)
  float global_linear_factor = 1.0f;
};
// rope_theta / rope_local_base_freq / rope_scaling, or the newer
// rope_parameters per layer type. Throws for a scaling type other than
// linear (or none).
RopeBases ReadRopeBases(const ModelConfig& config);

// The window of sliding layers; 0 when the file has none. transformers'
// Gemma 2/3 configs default to 4096; a GGUF without the key was always read
// here as having no sliding layers.
int ReadSlidingWindow(const ModelConfig& config);

// Which layers slide: layer_types when the file lists them, else Gemma 3's
// sliding_window_pattern period when `read_period`, else `fallback(i)`.
std::vector<bool> ReadSlidingLayers(const ModelConfig& config, int layers, bool read_period,
                                    bool (*fallback)(int layer));

// Sets a layer's attention type: sliding with `window`, or global when the
// layer does not slide or the window is 0.
void SetAttention(LayerSpec& layer, bool sliding, int window);

// query_pre_attn_scalar of a layer. GGUF has no such key: llama.cpp derives
// it from the depth, hidden_size / heads for the one model with
// `depth_of_exception` layers (Gemma 2 27B: 46, Gemma 3 27B: 62) and
// head_dim otherwise (golden README, quirks). A config.json without it, or
// with a value <= 0, gets head_dim.
float ReadQueryPreAttnScalar(const ModelConfig& config, const ModelSpec& spec, int layer,
                             int depth_of_exception);

// KV sharing (Gemma 3n / 4 E2B, E4B): the last num_kv_shared_layers layers
// read the K/V of the last earlier layer of their attention type that has
// its own (HF's rule; llama.cpp hard-codes first_shared - 1 / - 2). Returns
// the first shared layer (the layer count when none).
int SetKvSharing(const ModelConfig& config, ModelSpec& spec);

// Per-layer embeddings (Gemma 3n / 4): their width (0: none) and the token
// table's rows (the table's own, else vocab_size_per_layer_input, else the
// vocabulary); every layer takes one.
void SetPerLayerInputs(const ModelConfig& config, const TensorNamer& tensors, ModelSpec& spec);

}  // namespace gemma
