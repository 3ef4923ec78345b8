// The Gemma forward pass, top to bottom. Reference: gemma_pytorch
// (google/gemma_pytorch@014acb7, gemma/model.py), which the Gemma 1-3 golden
// logits come from, and HF transformers' modeling_gemma4.py for Gemma 4;
// shared spec gemma-architecture.md sections 1-4 and 6. Gemma 3n's layers
// run inside its AltUp streams (altup.cc, section 5).
#include "model/transformer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "kernels/ops.h"
#include "threading/thread_pool.h"

namespace gemma {
namespace {

// Rotates the two halves of a head ("NeoX" pairing: i with i + d/2) by
// position * inv_freq[i], as gemma_pytorch's apply_rotary_emb does with
// complex numbers built from torch.chunk(x, 2).
// cos/sin of position * inv_freq[i] for i < half, shared by a token's heads.
struct RopeAngles {
  static constexpr int kMaxHalf = 512;  // head_dim up to 1024 (spec.cc bound)
  float cos[kMaxHalf], sin[kMaxHalf];
  RopeAngles(int half, int position, const float* inv_freq) {
    for (int i = 0; i < half; ++i) {
      // The angle is formed in f32 as the reference does (outer(t, freqs)).
      const float angle = static_cast<float>(position) * inv_freq[i];
      cos[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sin[i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
};

void ApplyRope(float* head, int head_dim, const RopeAngles& a) {
  const int half = head_dim / 2;
  for (int i = 0; i < half; ++i) {
    const float re = head[i];
    const float im = head[i + half];
    head[i] = re * a.cos[i] - im * a.sin[i];
    head[i + half] = re * a.sin[i] + im * a.cos[i];
  }
}

// Gemma 3n's activation sparsity on a row of the MLP's gate (HF's
// _gaussian_topk): g = relu(g - (mean(g) + std(g) * stddevs)), std over the
// row (population), mean and std summed in double and rounded to f32 as
// the reference's float32 results.
void GaussianTopK(float* gate, int64_t n, float stddevs) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += gate[i];
  const double mean = sum / static_cast<double>(n);
  double squares = 0;
  for (int64_t i = 0; i < n; ++i) squares += (gate[i] - mean) * (gate[i] - mean);
  const float std_dev = static_cast<float>(std::sqrt(squares / static_cast<double>(n)));
  const float cutoff = static_cast<float>(mean) + std_dev * stddevs;
  for (int64_t i = 0; i < n; ++i) gate[i] = std::max(gate[i] - cutoff, 0.0f);
}

}  // namespace

Transformer::Transformer(const ModelSpec& spec, const ModelWeights& weights, int max_rows,
                         bool exact)
    : spec_(spec), max_rows_(max_rows), weights_(weights), attention_(/*bf16_dot=*/!exact) {
  const size_t n = max_rows;
  const size_t H = spec.hidden_size;
  size_t q_width = 0, kv_width = 0, F = 0;
  for (const LayerSpec& l : spec.layers) {
    q_width = std::max<size_t>(q_width, size_t{1} * l.num_attention_heads * l.head_dim);
    kv_width = std::max<size_t>(kv_width, size_t{1} * l.num_key_value_heads * l.head_dim);
    F = std::max<size_t>(F, l.intermediate_size);
    // f_i = theta^(-2i/d) / factor, computed in double and rounded once; 0
    // (the pair passes through) beyond the rotating pairs of a partial RoPE.
    const int half = l.head_dim / 2;
    const int rotated = static_cast<int>(l.rope_partial_factor * static_cast<float>(half));
    std::vector<float> inv_freq(half, 0.0f);
    for (int i = 0; i < rotated; ++i) {
      const double exponent = 2.0 * i / l.head_dim;
      inv_freq[i] = static_cast<float>(1.0 / std::pow(static_cast<double>(l.rope_theta), exponent) /
                                       l.rope_linear_factor);
    }
    rope_inv_freq_.push_back(std::move(inv_freq));
    ones_.resize(std::max<size_t>(ones_.size(), l.head_dim), 1.0f);
  }
  positions_.resize(n);
  row_segment_.resize(n);
  x_.resize(n * H);
  normed_.resize(n * H);
  proj_.resize(n * H);
  q_.resize(n * q_width);
  attn_out_.resize(n * q_width);
  k_.resize(n * kv_width);
  v_.resize(n * kv_width);
  gate_.resize(n * F);
  up_.resize(n * F);
  const size_t P = spec.per_layer_input_size;
  per_layer_inputs_.resize(n * spec.per_layer_input_width());
  per_layer_proj_.resize(n * spec.per_layer_input_width());
  per_layer_gate_.resize(n * P);
  per_layer_act_.resize(n * P);
  // AltUp and LAuReL (Gemma 3n).
  const size_t K = spec.altup_num_inputs;
  altup_streams_.resize(K * n * H);
  altup_predictions_.resize(K * n * H);
  size_t rank = 0;
  for (const LayerSpec& l : spec.layers) rank = std::max<size_t>(rank, l.laurel_rank);
  laurel_out_.resize(rank > 0 ? n * H : 0);
  laurel_mid_.resize(n * rank);
  size_t expert_width = 0;
  for (const LayerSpec& l : spec.layers) {
    expert_width = std::max<size_t>(expert_width, l.expert_intermediate_size);
  }
  // Mixture of experts: the routers in f32 (summed in one order for any batch).
  size_t top_k = 0, experts = 0;
  router_.resize(spec.num_layers());
  for (int i = 0; i < spec.num_layers(); ++i) {
    const LayerSpec& l = spec.layers[i];
    if (!l.moe()) continue;
    top_k = std::max<size_t>(top_k, l.num_experts_per_token);
    experts = std::max<size_t>(experts, l.num_experts);
    const WeightMatrix& proj = weights.layers[i].router_proj;
    router_[i].resize(static_cast<size_t>(proj.rows * proj.cols));
    for (int64_t e = 0; e < proj.rows; ++e) LookupRow(proj, e, &router_[i][e * proj.cols]);
  }
  if (top_k > 0) {
    route_expert_.resize(n * top_k);
    route_weight_.resize(n * top_k);
    route_out_.resize(n * top_k * H);
    expert_choices_.resize(n * top_k);
    expert_offsets_.resize(experts + 1);
    active_experts_.resize(experts);
    expert_in_.resize(n * H);
    expert_out_.resize(n * H);
    expert_gate_up_.resize(n * 2 * expert_width);
    expert_act_.resize(n * expert_width);
    moe_out_.resize(n * H);
    expert_stride_ = static_cast<int>(experts);
    expert_tokens_.assign(spec.num_layers() * experts, 0);
  }
}

void Transformer::Forward(const Batch& batch, KvMemory& kv, ThreadPool& pool, float* logits,
                          float* hidden, std::span<const HeadRowUse> head_uses) {
  const int n = batch.rows();
  const int H = spec_.hidden_size;
  for (size_t s = 0; s < batch.segments.size(); ++s) {
    const AttentionSegment& seg = batch.segments[s];
    for (int i = 0; i < seg.count; ++i) {
      positions_[seg.first_row + i] = seg.start_pos + i;
      row_segment_[seg.first_row + i] = static_cast<int>(s);
    }
  }

  // 1. Embedding lookup, scaled by sqrt(hidden) (the tied head is not scaled).
  for (int t = 0; t < n; ++t) {
    float* row = &x_[static_cast<size_t>(t) * H];
    LookupRow(weights_.embedding, batch.tokens[t], row);
    for (int i = 0; i < H; ++i) row[i] *= spec_.embedding_scale;
  }
  Trace("embedding", -1, x_.data(), n, H);
  // Gemma 3n/4 E2B/E4B: every layer's per-layer input, from the token and the embedding.
  if (spec_.per_layer_input_size > 0) PerLayerInputs(batch, pool);

  // 2. Decoder layers (Gemma 3n: inside its AltUp streams).
  if (spec_.altup_num_inputs > 0) {
    AltUpLayers(batch, kv, pool);
  } else {
    for (int layer = 0; layer < spec_.num_layers(); ++layer) {
      Attention(layer, batch, kv, pool);
      FeedForward(layer, n, pool);
      if (spec_.layers[layer].per_layer_input) AddPerLayerInput(layer, n, pool);
      // Gemma 4: the whole residual stream times the layer's learned scalar.
      if (spec_.layers[layer].layer_scalar) {
        const float scalar = weights_.layers[layer].layer_scalar[0];
        for (size_t i = 0; i < static_cast<size_t>(n) * H; ++i) x_[i] *= scalar;
      }
      Trace("layer_out", layer, x_.data(), n, H);
    }
  }

  // 3. Final norm over the rows whose logits are wanted, packed in order.
  const int rows = static_cast<int>(batch.logit_rows.size());
  for (int i = 0; i < rows; ++i) {
    RMSNorm(&x_[static_cast<size_t>(batch.logit_rows[i]) * H], weights_.final_norm.data(),
            spec_.rms_norm_eps, H, &normed_[static_cast<size_t>(i) * H]);
  }
  const int first_logit_row = rows > 0 ? batch.logit_rows[0] : 0;
  Trace("final_norm", -1, normed_.data(), rows, H, first_logit_row);
  if (hidden != nullptr) {
    std::copy(normed_.begin(), normed_.begin() + static_cast<size_t>(rows) * H, hidden);
    return;
  }
  if (rows == 0) return;

  // 4. Logits through the output head (the tied embedding), then the final soft-cap (Gemma 2).
  // Greedy rows skip most of the head's precise pass (MatMulHeadFor); a
  // soft-cap could round two logits to a tie, so Gemma 2 takes it whole.
  const int64_t V = spec_.vocab_size;
  const WeightMatrix& head = weights_.output_head;
  const bool any_argmax_only = std::any_of(head_uses.begin(), head_uses.end(),
                                           [](const HeadRowUse& u) { return u.argmax_only; });
  if (any_argmax_only && head_uses.size() == static_cast<size_t>(rows) &&
      spec_.final_logit_softcap <= 0 && MatMulHeadForSaves(head)) {
    if (head_row_abs_sums_.empty()) head_row_abs_sums_ = RowAbsSums(head, pool);
    MatMulHeadFor(head, normed_.data(), rows, logits, V, pool, head_uses, head_row_abs_sums_);
  } else {
    MatMulHead(head, normed_.data(), rows, logits, V, pool);
  }
  if (spec_.final_logit_softcap > 0) SoftCap(spec_.final_logit_softcap, logits, rows * V);
  Trace("logits", -1, logits, rows, V, first_logit_row);
}

void Transformer::Trace(const char* stage, int layer, const float* values, int rows, int64_t width,
                        int first_row) const {
  if (observer_ == nullptr || rows == 0) return;
  (*observer_)(
      StageTrace{stage, layer, positions_[first_row], rows, static_cast<int>(width), values});
}

// The per-layer embeddings of every row and layer, [n, L*P]:
//   ple = (RMSNorm(proj(x0) * H^-1/2) + table[token] * sqrt(P)) * 2^-1/2,
// the norm over each layer's P values, x0 the scaled embedding. The table
// stays in the mapped file: only the rows of the batch's tokens are read (and
// dequantized); a token beyond the table takes row 0 (as multimodal ids do).
void Transformer::PerLayerInputs(const Batch& batch, ThreadPool& pool) {
  const int n = batch.rows();
  const int P = spec_.per_layer_input_size;
  const size_t width = spec_.per_layer_input_width();
  MatMul(weights_.per_layer_model_projection, x_.data(), n, per_layer_proj_.data(),
         static_cast<int64_t>(width), pool);
  const float projection_scale = 1.0f / std::sqrt(static_cast<float>(spec_.hidden_size));
  const float table_scale = std::sqrt(static_cast<float>(P));
  const float sum_scale = static_cast<float>(1.0 / std::sqrt(2.0));
  const float* norm = weights_.per_layer_projection_norm.data();
  ForEachIndex(pool, n, [&](int t) {
    float* ple = &per_layer_inputs_[t * width];
    const int32_t token = batch.tokens[t];
    LookupRow(weights_.per_layer_embedding, token < spec_.per_layer_vocab_size ? token : 0, ple);
    float* proj = &per_layer_proj_[t * width];
    for (size_t i = 0; i < width; ++i) proj[i] *= projection_scale;
    for (size_t i = 0; i < width; i += P) RMSNorm(proj + i, norm, spec_.rms_norm_eps, P, proj + i);
    for (size_t i = 0; i < width; ++i) ple[i] = (proj[i] + ple[i] * table_scale) * sum_scale;
  });
  Trace("per_layer_inputs", -1, per_layer_inputs_.data(), n, static_cast<int64_t>(width));
}

// h += post_norm(proj(gelu_tanh(gate(h)) * ple[layer])), h the residual
// stream after the MLP.
void Transformer::AddPerLayerInput(int layer, int n, ThreadPool& pool) {
  const int H = spec_.hidden_size;
  PerLayerInputBranch(layer, x_.data(), n, pool);
  ForEachIndex(pool, n, [&](int t) {
    const float* out = &proj_[static_cast<size_t>(t) * H];
    float* residual = &x_[static_cast<size_t>(t) * H];
    for (int i = 0; i < H; ++i) residual[i] += out[i];
  });
}

// proj_ = post_norm(proj(gelu_tanh(gate(in)) * ple[layer])).
void Transformer::PerLayerInputBranch(int layer, const float* in, int n, ThreadPool& pool) {
  const LayerWeights& w = weights_.layers[layer];
  const int H = spec_.hidden_size;
  const int P = spec_.per_layer_input_size;
  const size_t width = spec_.per_layer_input_width();
  const size_t slot = static_cast<size_t>(spec_.layers[layer].per_layer_input_slot);
  MatMul(w.per_layer_input_gate, in, n, per_layer_gate_.data(), P, pool);
  ForEachIndex(pool, n, [&](int t) {
    float* act = &per_layer_act_[static_cast<size_t>(t) * P];
    const float* ple = &per_layer_inputs_[t * width + slot * P];
    std::copy(ple, ple + P, act);
    GeluTanhMul(&per_layer_gate_[static_cast<size_t>(t) * P], act, P);
  });
  MatMul(w.per_layer_projection, per_layer_act_.data(), n, proj_.data(), H, pool);
  ForEachIndex(pool, n, [&](int t) {
    float* out = &proj_[static_cast<size_t>(t) * H];
    RMSNorm(out, w.post_per_layer_input_norm.data(), spec_.rms_norm_eps, H, out);
  });
  Trace("per_layer_out", layer, proj_.data(), n, H);
}

// h += [post_norm](o_proj(softmax(mask(softcap(c * q.k))) . v)), q/k/v from input_norm(h).
// The softmax-weighted sum runs tiled over the cache (attention.cc).
void Transformer::Attention(int layer, const Batch& batch, KvMemory& kv, ThreadPool& pool) {
  const int n = batch.rows();
  const LayerSpec& l = spec_.layers[layer];
  const LayerWeights& w = weights_.layers[layer];
  const int H = spec_.hidden_size;
  const int d = l.head_dim;
  const int q_width = l.num_attention_heads * d;
  const int kv_width = l.num_key_value_heads * d;
  const float eps = spec_.rms_norm_eps;

  ForEachIndex(pool, n, [&](int t) {
    const size_t offset = static_cast<size_t>(t) * H;
    RMSNorm(&x_[offset], w.input_norm.data(), eps, H, &normed_[offset]);
  });
  Trace("attn_norm", layer, normed_.data(), n, H);
  // A layer that shares another layer's K/V (kv_source_layer) computes only
  // q; the attention reads the rows its source stored in this same step.
  // q, k and v in one pass over the pool (MatMulSameInput).
  const bool own_kv = l.kv_source_layer < 0;
  std::array<MatMulOutput, 3> qkv = {{{&w.q_proj, q_.data(), q_width},
                                      {&w.k_proj, k_.data(), kv_width},
                                      {&w.v_proj, v_.data(), kv_width}}};
  // k_eq_v: V is the key projection itself, before k_norm and RoPE (Gemma 4).
  const size_t projections = !own_kv ? 1 : l.k_eq_v ? 2 : 3;
  MatMulSameInput(std::span(qkv.data(), projections), normed_.data(), n, pool);
  if (own_kv && l.k_eq_v) {
    std::copy(k_.begin(), k_.begin() + static_cast<size_t>(n) * kv_width, v_.begin());
  }

  // QK-norm (Gemma 3) then RoPE on every head, the weightless V norm (Gemma
  // 4); store K/V in the sequence's memory.
  const float* inv_freq = rope_inv_freq_[layer].data();
  ForEachIndex(pool, n, [&](int t) {
    const int pos = positions_[t];
    const RopeAngles angles(d / 2, pos, inv_freq);
    float* q = &q_[static_cast<size_t>(t) * q_width];
    float* k = &k_[static_cast<size_t>(t) * kv_width];
    for (int h = 0; h < l.num_attention_heads; ++h) {
      if (l.qk_norm) RMSNorm(q + h * d, w.q_norm.data(), eps, d, q + h * d);
      ApplyRope(q + h * d, d, angles);
    }
    if (!own_kv) return;
    float* v = &v_[static_cast<size_t>(t) * kv_width];
    for (int h = 0; h < l.num_key_value_heads; ++h) {
      if (l.qk_norm) RMSNorm(k + h * d, w.k_norm.data(), eps, d, k + h * d);
      ApplyRope(k + h * d, d, angles);
      if (l.value_norm) RMSNorm(v + h * d, ones_.data(), eps, d, v + h * d);
    }
    const AttentionSegment& seg = batch.segments[row_segment_[t]];
    kv.Store(*seg.seq, layer, pos, k, v);  // distinct rows
  });
  Trace("q", layer, q_.data(), n, q_width);
  if (own_kv) {
    Trace("k", layer, k_.data(), n, kv_width);
    Trace("v", layer, v_.data(), n, kv_width);
  }

  attention_.Run(l, layer, q_.data(), batch.segments, kv, pool, attn_out_.data());
  Trace("attn", layer, attn_out_.data(), n, q_width);

  MatMul(w.o_proj, attn_out_.data(), n, proj_.data(), H, pool);
  ForEachIndex(pool, n, [&](int t) {
    float* out = &proj_[static_cast<size_t>(t) * H];
    if (l.sandwich_norms) RMSNorm(out, w.post_attention_norm.data(), eps, H, out);
    float* residual = &x_[static_cast<size_t>(t) * H];
    for (int i = 0; i < H; ++i) residual[i] += out[i];
  });
  Trace("attn_out", layer, proj_.data(), n, H);
}

// h += [post_norm](down(gelu_tanh(gate(x)) * up(x))), x = pre_feedforward_norm(h).
void Transformer::FeedForward(int layer, int n, ThreadPool& pool) {
  const LayerSpec& l = spec_.layers[layer];
  if (l.moe()) return MixtureOfExperts(layer, n, pool);
  const LayerWeights& w = weights_.layers[layer];
  const int H = spec_.hidden_size;
  Mlp(layer, n, pool);
  ForEachIndex(pool, n, [&](int t) {
    float* out = &proj_[static_cast<size_t>(t) * H];
    if (l.sandwich_norms) RMSNorm(out, w.post_feedforward_norm.data(), spec_.rms_norm_eps, H, out);
    float* residual = &x_[static_cast<size_t>(t) * H];
    for (int i = 0; i < H; ++i) residual[i] += out[i];
  });
  Trace("ffn_out", layer, proj_.data(), n, H);
}

// proj_ = down(gelu_tanh(gate(x)) * up(x)), x = pre_feedforward_norm(h);
// Gemma 3n's sparse layers cut the gate first (GaussianTopK).
void Transformer::Mlp(int layer, int n, ThreadPool& pool) {
  const LayerWeights& w = weights_.layers[layer];
  const LayerSpec& l = spec_.layers[layer];
  const int H = spec_.hidden_size;
  const int F = l.intermediate_size;
  ForEachIndex(pool, n, [&](int t) {
    const size_t offset = static_cast<size_t>(t) * H;
    RMSNorm(&x_[offset], w.pre_feedforward_norm.data(), spec_.rms_norm_eps, H, &normed_[offset]);
  });
  Trace("ffn_norm", layer, normed_.data(), n, H);
  const std::array<MatMulOutput, 2> gate_up = {
      {{&w.gate_proj, gate_.data(), F}, {&w.up_proj, up_.data(), F}}};
  MatMulSameInput(gate_up, normed_.data(), n, pool);
  ForEachIndex(pool, n, [&](int t) {
    const size_t offset = static_cast<size_t>(t) * F;
    if (l.activation_sparsity) GaussianTopK(&gate_[offset], F, l.activation_sparsity_stddevs);
    GeluTanhMul(&gate_[offset], &up_[offset], F);
  });
  Trace("ffn_hidden", layer, up_.data(), n, F);
  MatMul(w.down_proj, up_.data(), n, proj_.data(), H, pool);
}

}  // namespace gemma
