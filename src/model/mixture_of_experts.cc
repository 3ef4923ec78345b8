// Gemma 4 26B-A4B's feed-forward step: a dense GeGLU MLP and a mixture of
// GeGLU experts side by side, each branch with its own norms. Reference: HF
// transformers' modeling_gemma4.py (Gemma4TextDecoderLayer, Gemma4TextRouter,
// Gemma4TextExperts); shared spec gemma-architecture.md section 6.5. With r
// the residual stream after attention:
//   dense = post_norm_1(MLP(pre_norm(r)))
//   z     = RMSNorm(r) * router.scale * H^-1/2           (weightless norm)
//   p     = softmax(router.proj z); top-k of p, renormalised over the k,
//           each times per_expert_scale[e]                -> w_e
//   moe   = post_norm_2(sum_e w_e * Down_e(gelu_tanh(Gate_e y) * Up_e y)),
//           y = pre_norm_2(r)
//   r    += post_norm(dense + moe)
// The experts run grouped: each expert multiplies the batch's rows that chose
// it in one pass over its weights, and a decode step reads only the chosen
// experts. A row's result does not depend on the batch: each expert output
// is kept apart and the row sums its experts in ascending expert order.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/ops.h"
#include "kernels/scratch.h"
#include "model/transformer.h"
#include "threading/thread_pool.h"

namespace gemma {
void Transformer::MixtureOfExperts(int layer, int n, ThreadPool& pool) {
  const LayerSpec& l = spec_.layers[layer];
  const LayerWeights& w = weights_.layers[layer];
  const int H = spec_.hidden_size;
  const int k = l.num_experts_per_token;
  const float eps = spec_.rms_norm_eps;

  // 1. The dense branch, into proj_.
  Mlp(layer, n, pool);
  ForEachIndex(pool, n, [&](int t) {
    float* out = &proj_[static_cast<size_t>(t) * H];
    RMSNorm(out, w.post_feedforward_norm_1.data(), eps, H, out);
  });
  Trace("ffn_dense", layer, proj_.data(), n, H);

  // 2. The router on the residual stream; the experts' input in normed_.
  Route(layer, n, pool);
  ForEachIndex(pool, n, [&](int t) {
    const size_t offset = static_cast<size_t>(t) * H;
    RMSNorm(&x_[offset], w.pre_feedforward_norm_2.data(), eps, H, &normed_[offset]);
  });
  Trace("moe_norm", layer, normed_.data(), n, H);

  // 3. Each expert over the rows that chose it (route_out_ per choice): the
  // choices bucketed by expert in one pass, ascending within each bucket.
  std::fill(expert_offsets_.begin(), expert_offsets_.begin() + l.num_experts + 1, 0);
  for (int c = 0; c < n * k; ++c) ++expert_offsets_[route_expert_[c] + 1];
  for (int e = 0; e < l.num_experts; ++e) expert_offsets_[e + 1] += expert_offsets_[e];
  for (int c = 0; c < n * k; ++c) {
    expert_choices_[expert_offsets_[route_expert_[c]]++] = c;  // offsets_[e] moves to e's end
  }
  // Now expert e's choices end at offsets_[e] and begin at offsets_[e - 1].
  auto first = [&](int e) { return e == 0 ? 0 : expert_offsets_[e - 1]; };
  int active = 0;
  for (int e = 0; e < l.num_experts; ++e) {
    if (expert_offsets_[e] > first(e)) active_experts_[active++] = e;
  }
  const int threads = pool.num_threads();
  if (threads > 1 && active >= 2 * threads) {
    // Side by side, one expert per thread at a time, the most chosen first:
    // the pool's hand-offs of two MatMuls per expert one after another had
    // been ~9% of 26B-A4B's prefill on two threads. The same bits as below:
    // a row's sums depend neither on the threads nor on the rows beside it.
    std::sort(active_experts_.begin(), active_experts_.begin() + active, [&](int a, int b) {
      const int ca = expert_offsets_[a] - first(a), cb = expert_offsets_[b] - first(b);
      return ca > cb || (ca == cb && a < b);
    });
    pool.ParallelFor(static_cast<size_t>(active), 1, [&](size_t i0, size_t i1, int) {
      const ExpertBuffers buffers = ThreadExpertBuffers(l);
      for (size_t i = i0; i < i1; ++i) {
        const int e = active_experts_[i];
        // Nested pool calls run inline on this thread.
        RunExpert(layer, e, &expert_choices_[first(e)], expert_offsets_[e] - first(e), pool,
                  buffers);
      }
    });
  } else {
    const ExpertBuffers buffers{expert_in_.data(), expert_gate_up_.data(), expert_act_.data(),
                                expert_out_.data(), n};
    for (int i = 0; i < active; ++i) {
      const int e = active_experts_[i];
      RunExpert(layer, e, &expert_choices_[first(e)], expert_offsets_[e] - first(e), pool, buffers);
    }
  }

  // 4. Each row's experts summed in ascending order, the branch norms, the residual.
  ForEachIndex(pool, n, [&](int t) {
    float* moe = &moe_out_[static_cast<size_t>(t) * H];
    std::fill(moe, moe + H, 0.0f);
    for (int j = 0; j < k; ++j) {
      const float* y = &route_out_[(static_cast<size_t>(t) * k + j) * H];
      for (int i = 0; i < H; ++i) moe[i] += y[i];
    }
    RMSNorm(moe, w.post_feedforward_norm_2.data(), eps, H, moe);
    float* out = &proj_[static_cast<size_t>(t) * H];
    for (int i = 0; i < H; ++i) out[i] += moe[i];
    RMSNorm(out, w.post_feedforward_norm.data(), eps, H, out);
    float* residual = &x_[static_cast<size_t>(t) * H];
    for (int i = 0; i < H; ++i) residual[i] += out[i];
  });
  Trace("moe_out", layer, moe_out_.data(), n, H);
  Trace("ffn_out", layer, proj_.data(), n, H);
}

// Every row's k experts (ascending) and weights (ChooseExperts) from the
// router's logits.
void Transformer::Route(int layer, int n, ThreadPool& pool) {
  const LayerSpec& l = spec_.layers[layer];
  const LayerWeights& w = weights_.layers[layer];
  const int H = spec_.hidden_size;
  const int E = l.num_experts;
  const int k = l.num_experts_per_token;
  const float root = 1.0f / std::sqrt(static_cast<float>(H));
  const float* router = router_[layer].data();
  // z = RMSNorm(x) * scale * H^-1/2 into each row's first route_out_ slot.
  ForEachIndex(pool, n, [&](int t) {
    float* z = &route_out_[static_cast<size_t>(t) * k * H];
    RMSNorm(&x_[static_cast<size_t>(t) * H], w.router_scale.data(), spec_.rms_norm_eps, H, z);
    for (int i = 0; i < H; ++i) z[i] *= root;
  });
  // The logits in f64 sums (DotsF64: the same bits for any batch), a tile
  // of rows per pass over the router's weights, which a row alone read from
  // L2 for every row (with the f64 sums in one dependent chain per expert
  // that had been ~10% of 26B-A4B's prefill).
  const int tiles = (n + kDotsF64Tile - 1) / kDotsF64Tile;
  ForEachIndex(pool, tiles, [&](int tile) {
    const int t0 = tile * kDotsF64Tile;
    const int rows = std::min(kDotsF64Tile, n - t0);
    const float* z[kDotsF64Tile] = {};
    for (int i = 0; i < rows; ++i) z[i] = &route_out_[static_cast<size_t>(t0 + i) * k * H];
    float logits[kDotsF64Tile * 4096];  // row i's at i * E
    DotsF64(router, E, H, z, rows, logits);
    for (int i = 0; i < rows; ++i) ChooseExperts(layer, t0 + i, &logits[i * E]);
  });
}

// Row t's k experts (ascending) and weights from its logits (overwritten):
// softmax over all experts, the top k, renormalised over them, times the
// experts' scales.
void Transformer::ChooseExperts(int layer, int t, float* probs) {
  const LayerSpec& l = spec_.layers[layer];
  const LayerWeights& w = weights_.layers[layer];
  const int E = l.num_experts;
  const int k = l.num_experts_per_token;
  Softmax(probs, E);
  int order[4096];
  std::iota(order, order + E, 0);
  std::partial_sort(order, order + k, order + E, [&](int a, int b) {
    return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
  });
  float total = 0;
  for (int j = 0; j < k; ++j) total += probs[order[j]];
  std::sort(order, order + k);
  for (int j = 0; j < k; ++j) {
    const int e = order[j];
    route_expert_[t * k + j] = e;
    route_weight_[t * k + j] = probs[e] / total * w.per_expert_scale[e];
  }
}

// Per-thread buffers for experts run side by side: kExpertPieceRows rows of
// an expert per pass (a prompt's expert has ~n k / E rows, 32 for 512 tokens
// of 26B-A4B), so each thread holds 64 (2 H + 3 Fe) floats.
Transformer::ExpertBuffers Transformer::ThreadExpertBuffers(const LayerSpec& l) const {
  const size_t H = static_cast<size_t>(spec_.hidden_size);
  const size_t Fe = static_cast<size_t>(l.expert_intermediate_size);
  float* all = ThreadScratch<struct ExpertRows, float>(kExpertPieceRows * (2 * H + 3 * Fe));
  float* in = all;
  float* gate_up = in + kExpertPieceRows * H;
  float* act = gate_up + kExpertPieceRows * 2 * Fe;
  float* out = act + kExpertPieceRows * Fe;
  return ExpertBuffers{in, gate_up, act, out, kExpertPieceRows};
}

// route_out_[c] = w_c * Down_e(gelu_tanh(Gate_e y) * Up_e y) for the
// `count` choices of expert e, y the chooser's row of normed_, at most
// buffers.rows rows per pass. A row's result is the same whoever else chose
// the expert (every MatMul kernel sums a row in one order for any batch).
// The row-wise steps run on the pool too (inline when the experts run side by
// side).
void Transformer::RunExpert(int layer, int expert, const int* choices, int count, ThreadPool& pool,
                            const ExpertBuffers& buffers) {
  const LayerSpec& l = spec_.layers[layer];
  const LayerWeights& w = weights_.layers[layer];
  const int H = spec_.hidden_size;
  const int Fe = l.expert_intermediate_size;
  const int k = l.num_experts_per_token;
  const WeightMatrix& gate_up = w.expert_gate_up[expert];
  const WeightMatrix& down = w.expert_down[expert];
  expert_tokens_[static_cast<size_t>(layer) * expert_stride_ + expert] += count;
  for (int p0 = 0; p0 < count; p0 += buffers.rows) {
    const int rows = std::min(buffers.rows, count - p0);
    const int* piece = choices + p0;
    ForEachIndex(pool, rows, [&](int i) {
      const float* y = &normed_[static_cast<size_t>(piece[i] / k) * H];
      std::copy(y, y + H, &buffers.in[static_cast<size_t>(i) * H]);
    });
    MatMul(gate_up, buffers.in, rows, buffers.gate_up, 2 * Fe, pool);
    ForEachIndex(pool, rows, [&](int i) {
      float* gu = &buffers.gate_up[static_cast<size_t>(i) * 2 * Fe];
      float* act = &buffers.act[static_cast<size_t>(i) * Fe];
      std::copy(gu + Fe, gu + 2 * Fe, act);
      GeluTanhMul(gu, act, Fe);
    });
    MatMul(down, buffers.act, rows, buffers.out, H, pool);
    ForEachIndex(pool, rows, [&](int i) {
      const int c = piece[i];
      const float weight = route_weight_[c];
      const float* y = &buffers.out[static_cast<size_t>(i) * H];
      float* out = &route_out_[static_cast<size_t>(c) * H];
      for (int j = 0; j < H; ++j) out[j] = y[j] * weight;
    });
  }
}

}  // namespace gemma
