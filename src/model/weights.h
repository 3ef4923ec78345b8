// Typed views of a model's weights, bound from the TensorCatalog by walking
// the generation's tensor rows (tensor_rows.h), which name every tensor in
// both GGUF and Hugging Face spelling. `gemma quantize` reads the same rows.
// Matrices point into the mmapped files; norm gains are small f32 copies
// holding the effective gain (what a file stores is the generation's to say:
// Generation::hf_norm_offset).
#pragma once

#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "kernels/ops.h"
#include "model/spec.h"

namespace gemma {

struct ModelSource;

struct LayerWeights {
  WeightMatrix q_proj, k_proj, v_proj, o_proj;  // [n_h*d_h, H], [n_kv*d_h, H] x2, [H, n_h*d_h]
  WeightMatrix gate_proj, up_proj, down_proj;   // [F, H], [F, H], [H, F]
  std::vector<float> input_norm;                // before attention
  std::vector<float> post_attention_norm;       // sandwich only
  std::vector<float> pre_feedforward_norm;   // before the MLP (Gemma 1's post_attention_layernorm)
  std::vector<float> post_feedforward_norm;  // sandwich only
  std::vector<float> q_norm, k_norm;         // [d_h], QK-norm only
  std::vector<float> layer_scalar;           // [1], LayerSpec::layer_scalar only
  // LayerSpec::per_layer_input only: gate [P, H], projection [H, P], and the
  // norm after the projection [H].
  WeightMatrix per_layer_input_gate, per_layer_projection;
  std::vector<float> post_per_layer_input_norm;
  // LayerSpec::moe() only: the router's gain [H] (on the weightless-normed
  // residual), its projection [E, H] and the per-expert output scale [E];
  // per expert, slices of the file's 3-D tensors multiplied like any matrix:
  // gate and up fused [2*Fe, H] (gate rows first) and down [H, Fe]; the
  // dense branch's post-norm, and the expert branch's pre- and post-norms.
  std::vector<float> router_scale, per_expert_scale;
  WeightMatrix router_proj;
  std::vector<WeightMatrix> expert_gate_up, expert_down;
  std::vector<float> post_feedforward_norm_1, pre_feedforward_norm_2, post_feedforward_norm_2;
  // LayerSpec::altup only (f32 copies, any file type): the router's norm
  // gain [H] and projection [K, H], the prediction [K*K, K] and correction
  // [K, K] coefficients, the scale of the corrected active stream [H].
  std::vector<float> altup_router_norm, altup_router, altup_prediction_coefs,
      altup_correction_coefs, altup_correct_output_scale;
  // LayerSpec::laurel_rank > 0 only: left [rank, H], right [H, rank], the norm after them [H].
  WeightMatrix laurel_left, laurel_right;
  std::vector<float> laurel_post_norm;
};

struct ModelWeights {
  WeightMatrix embedding;    // [V, H]
  WeightMatrix output_head;  // [V, H]: the embedding (tied) unless the file has its own
  std::vector<float> final_norm;
  // GGUF's rope_freqs (Gemma 4): frequency divisors of the global layers, 1
  // for a rotating pair and 1e30 for the rest. The builder reads the
  // partial factor from it (LayerSpec::rope_partial_factor); bound so that
  // `gemma quantize` writes it back.
  std::vector<float> rope_freqs;
  // Per-layer embeddings (ModelSpec::per_layer_input_size > 0): the token
  // table [per_layer_vocab, L*P], looked up by row like the embedding and
  // never repacked (it stays in the mapped file; only the batch's rows are
  // read); the projection of the embedding [L*P, H] and its norm [P].
  WeightMatrix per_layer_embedding;
  WeightMatrix per_layer_model_projection;
  std::vector<float> per_layer_projection_norm;
  // AltUp (ModelSpec::altup_num_inputs > 0): the projections making streams
  // 1.. from the embedding, and back before the output, [H, H] each.
  std::vector<WeightMatrix> altup_projections, altup_unembed_projections;
  std::vector<LayerWeights> layers;
  // Repacked copies for the integer kernels (PackWeightsForKernels): one
  // arena for all matrices, owned here.
  HugeBuffer packed;
  size_t packed_bytes = 0;
};

// Binds every tensor of the spec's generation (its rows) to its member.
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
// the model runs; a repacked matrix's pages were handed back. Tables looked
// up by row (the per-layer embeddings; the embedding unless it is the tied
// head) are not: a token reads one row of them.
size_t MappedBytesReadPerToken(const ModelWeights& weights);

// Bytes of the tables only looked up by row, which stay in the mapped file
// and are not counted as resident: the per-layer embedding table, and the
// embedding when the output head is not tied to it.
size_t MappedRowLookupBytes(const ModelWeights& weights);

}  // namespace gemma
