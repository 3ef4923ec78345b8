// Typed views of a model's weights, bound from the TensorCatalog through one
// declarative table (weights.cc) that names every tensor in both GGUF and
// Hugging Face spelling. The loader and `gemma quantize` read the same table.
// Matrices point into the mmapped files; norm gains are small f32 copies
// holding the effective gain (GGUF stores 1 + w, HF stores w).
#pragma once

#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "kernels/ops.h"
#include "model/spec.h"

namespace gemma {

struct ModelSource;
struct TensorEntry;

struct LayerWeights {
  WeightMatrix q_proj, k_proj, v_proj, o_proj;  // [n_h*d_h, H], [n_kv*d_h, H] x2, [H, n_h*d_h]
  WeightMatrix gate_proj, up_proj, down_proj;   // [F, H], [F, H], [H, F]
  std::vector<float> input_norm;                // before attention
  std::vector<float> post_attention_norm;       // sandwich only
  std::vector<float> pre_feedforward_norm;   // before the MLP (Gemma 1's post_attention_layernorm)
  std::vector<float> post_feedforward_norm;  // sandwich only
  std::vector<float> q_norm, k_norm;         // [d_h], QK-norm only
};

struct ModelWeights {
  WeightMatrix embedding;    // [V, H]
  WeightMatrix output_head;  // [V, H]: the embedding (tied) unless the file has its own
  std::vector<float> final_norm;
  std::vector<LayerWeights> layers;
  // Repacked copies for the integer kernels (PackWeightsForKernels): one
  // arena for all matrices, owned here.
  HugeBuffer packed;
  size_t packed_bytes = 0;
};

enum class TensorRole {
  kEmbedding,
  kOutputHead,
  kFinalNorm,
  kQ,
  kK,
  kV,
  kO,
  kGate,
  kUp,
  kDown,
  kInputNorm,
  kPostAttentionNorm,
  kPreFeedforwardNorm,
  kPostFeedforwardNorm,
  kQNorm,
  kKNorm,
};

// One tensor the model uses: where it is in the source and what it is called
// in GGUF. `entry` is null only for an absent optional tensor (output head).
struct ModelTensor {
  TensorRole role;
  int layer = -1;  // -1 for model-level tensors
  std::string gguf_name;
  const TensorEntry* entry = nullptr;
  std::vector<int64_t> shape;  // expected, outermost first
  bool is_norm = false;        // a gain vector (stored w in HF, 1 + w in GGUF)
};

// Every tensor the spec calls for, checked for presence and shape. Throws
// gemma::Error naming the file and tensor when one is missing or misshapen.
std::vector<ModelTensor> ListModelTensors(const ModelSource& source, const ModelSpec& spec);

// Throws gemma::Error naming the file and tensor when one is missing, has the
// wrong shape, or a type the kernels cannot use.
ModelWeights BindWeights(const ModelSource& source, const ModelSpec& spec);

// Repacks every matrix the packed kernels support (kernels/packed_matmul.h)
// into one arena and sets its `packed`; no-op where the CPU lacks them. The embedding keeps
// its file layout for row lookups; a tied output head gets its own packed
// copy. The packed-away file pages are handed back to the OS (they stay in
// the page cache), so resident memory is not doubled. Returns bytes packed.
size_t PackWeightsForKernels(const ModelSource& source, ModelWeights& weights, ThreadPool& pool);

// Bytes of the mapped files that every token reads in full: the matrices
// left in the file's layout (not repacked). Those pages stay resident while
// the model runs; a repacked matrix's pages were handed back.
size_t MappedBytesReadPerToken(const ModelWeights& weights);

// A matrix tensor as the kernels see it; throws gemma::Error naming the file
// and tensor if its type is one the kernels cannot read.
WeightMatrix AsMatrix(const ModelTensor& t);

// A norm tensor's effective gain (1 + w) as f32, whatever the source format.
std::vector<float> EffectiveGain(const ModelSource& source, const TensorEntry& t);

}  // namespace gemma
