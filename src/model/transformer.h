// The Gemma transformer: embed -> layers -> final norm -> logits, driven by a
// ModelSpec. One class for Gemma 1 to 4; the differences are spec data.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "memory/kv_memory.h"
#include "model/attention.h"
#include "model/batch.h"
#include "model/spec.h"
#include "model/weights.h"

namespace gemma {

class ThreadPool;

// One intermediate of a forward step: `rows` rows of `width` floats, the
// first at sequence position `first_position`; layer -1 outside the layers.
// The values are valid during the call only.
struct StageTrace {
  const char* stage;
  int layer;
  int first_position;
  int rows, width;
  const float* values;
};
using StageObserverFn = std::function<void(const StageTrace&)>;

class Transformer {
 public:
  // max_rows: the most rows one Forward call takes (scratch is sized for it).
  // exact: f32 arithmetic in attention too (see TiledAttention).
  Transformer(const ModelSpec& spec, const ModelWeights& weights, int max_rows, bool exact = false);

  // Runs one step: every row's token at its position (after the positions its
  // sequence holds), storing its keys and values in `kv`, and writes the
  // logits of batch.logit_rows to `logits` ([logit_rows, vocab], in order).
  // The caller has reserved the KV blocks for every segment (KvMemory::Reserve)
  // and commits the tokens afterwards; ids are < vocab_size; rows <= max_rows.
  // With `hidden`, the final-norm outputs of those rows ([logit_rows, hidden])
  // go there instead, and no logits are computed.
  // head_uses: how each logit row will be read (empty: every row whole);
  // argmax-only rows may hold -inf where they cannot be the argmax
  // (MatMulHeadFor; not with a final soft-cap, which could make ties).
  void Forward(const Batch& batch, KvMemory& kv, ThreadPool& pool, float* logits,
               float* hidden = nullptr, std::span<const HeadRowUse> head_uses = {});

  // Debugging aid: when set, Forward hands every named intermediate (the
  // stages docs/debugging.md lists, per layer) to the observer as it is
  // computed, so a mismatch with a reference can be traced to its step.
  void set_stage_observer(const StageObserverFn* observer) { observer_ = observer; }

  // Tokens each expert has multiplied so far, [layer * E + expert], E the
  // most experts of a layer
  // (MoE layers; zeros elsewhere): a decode step adds one to exactly the
  // experts its token chose, and reads no other expert's weights.
  const std::vector<int64_t>& expert_tokens() const { return expert_tokens_; }
  // Rows of one expert per pass when experts run side by side, one per pool
  // thread (each thread holds this many rows of buffers).
  static constexpr int kExpertPieceRows = 64;

  int max_rows() const { return max_rows_; }
  const ModelSpec& spec() const { return spec_; }

 private:
  void Attention(int layer, const Batch& batch, KvMemory& kv, ThreadPool& pool);
  void FeedForward(int layer, int n, ThreadPool& pool);
  // The GeGLU MLP on pre_feedforward_norm(h), into proj_ (no norm after it).
  void Mlp(int layer, int n, ThreadPool& pool);
  // Gemma 4 26B-A4B's FFN (mixture_of_experts.cc): the dense MLP and the
  // routed experts in parallel, each with its norms.
  void MixtureOfExperts(int layer, int n, ThreadPool& pool);
  void Route(int layer, int n, ThreadPool& pool);
  void ChooseExperts(int layer, int t, float* probs);
  // Where an expert's rows go on their way (each [rows, ...]).
  struct ExpertBuffers {
    float* in;       // [rows, H]
    float* gate_up;  // [rows, 2 Fe]
    float* act;      // [rows, Fe]
    float* out;      // [rows, H]
    int rows;
  };
  ExpertBuffers ThreadExpertBuffers(const LayerSpec& l) const;
  void RunExpert(int layer, int expert, const int* choices, int count, ThreadPool& pool,
                 const ExpertBuffers& buffers);
  void PerLayerInputs(const Batch& batch, ThreadPool& pool);
  void AddPerLayerInput(int layer, int n, ThreadPool& pool);
  // proj_ = post_norm(proj(gelu_tanh(gate(in)) * ple[layer])), in [n, H].
  void PerLayerInputBranch(int layer, const float* in, int n, ThreadPool& pool);
  // Gemma 3n (altup.cc): every layer inside the AltUp streams, from the
  // embedding in x_ to the streams' output mean in x_.
  void AltUpLayers(const Batch& batch, KvMemory& kv, ThreadPool& pool);
  void AltUpLayer(int layer, const Batch& batch, KvMemory& kv, ThreadPool& pool);
  void AltUpPredict(int layer, int n, ThreadPool& pool);
  void AltUpCorrect(int layer, int n, ThreadPool& pool);
  void Laurel(int layer, int n, ThreadPool& pool);
  // tanh(router(router_norm(z) / H)) into out [K].
  void AltUpModalities(int layer, const float* z, float* out) const;

  const ModelSpec& spec_;
  int max_rows_;
  const ModelWeights& weights_;
  const StageObserverFn* observer_ = nullptr;
  // Hands `values` ([rows, width], the first row at batch row `first_row`)
  // to the observer, if one is set.
  void Trace(const char* stage, int layer, const float* values, int rows, int64_t width,
             int first_row = 0) const;

  // Scratch for one step, allocated once (row-major [row, width]).
  std::vector<int> positions_;    // per row
  std::vector<int> row_segment_;  // per row: its batch segment
  std::vector<float> x_;          // residual stream [n, H]
  std::vector<float> normed_;     // [n, H]
  std::vector<float> q_, k_, v_;  // [n, n_h*d_h], [n, n_kv*d_h] x2
  std::vector<float> attn_out_;   // [n, n_h*d_h]
  std::vector<float> proj_;       // [n, H]
  std::vector<float> gate_, up_;  // [n, F]
  // Per-layer embeddings: every layer's input [n, L*P], the projection of the
  // embedding [n, L*P] they are made from, and one layer's gate and
  // activation [n, P].
  std::vector<float> per_layer_inputs_, per_layer_proj_;
  std::vector<float> per_layer_gate_, per_layer_act_;
  std::vector<std::vector<float>> rope_inv_freq_;  // per layer [d_h/2]
  std::vector<float> ones_;                        // the gain of a weightless norm [max d_h]
  std::vector<float> head_row_abs_sums_;  // RowAbsSums of the head, made at the first greedy step
  // Mixture of experts (only sized when a layer has experts): each layer's
  // router as f32 [E, H]; each row's chosen experts (ascending) and their
  // weights [n, k]; each choice's weighted expert output [n, k, H]; the
  // choices bucketed by expert [n, k] and the buckets' offsets [E + 1]; the
  // expert being run: its gathered inputs and outputs
  // [n, H], its fused gate/up [n, 2 Fe] and activation [n, Fe]; the expert
  // branch's sum [n, H]; counters.
  std::vector<std::vector<float>> router_;
  std::vector<int> route_expert_;
  std::vector<float> route_weight_, route_out_;
  std::vector<int> expert_choices_, expert_offsets_, active_experts_;
  std::vector<float> expert_in_, expert_out_, expert_gate_up_, expert_act_, moe_out_;
  std::vector<int64_t> expert_tokens_;
  int expert_stride_ = 0;  // experts per layer in expert_tokens_
  // AltUp (Gemma 3n): the streams and their predictions [K, max_rows, H]
  // (stream k's row t at (k * max_rows + t) * H); LAuReL's output [n, H]
  // and middle [n, rank].
  std::vector<float> altup_streams_, altup_predictions_;
  std::vector<float> laurel_out_, laurel_mid_;
  TiledAttention attention_;
};

}  // namespace gemma
