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

  // 3. Each expert over the rows that chose it (route_out_ per choice).
  for (int e = 0; e < l.num_experts; ++e) {
    int count = 0;
    for (int c = 0; c < n * k; ++c) {
      if (route_expert_[c] == e) expert_choices_[count++] = c;
    }
    if (count > 0) RunExpert(layer, e, count, pool);
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

namespace {

// A router logit: the dot product in f64, where each f32 product is exact,
// summed in 16 interleaved partial sums and then pairwise. The order is fixed
// (the same bits for any batch, compiler or CPU), and 16 independent chains
// let the compiler vectorize it. One running sum was a chain of H dependent
// f64 additions per expert: ~10% of 26B-A4B's prefill time on one thread
// (perf), as much as a third of its expert matrix products.
double RouterLogit(const float* row, const float* z, int n) {
  constexpr int kPartials = 16;
  double partial[kPartials] = {};
  int i = 0;
  for (; i + kPartials <= n; i += kPartials) {
    for (int j = 0; j < kPartials; ++j) partial[j] += static_cast<double>(row[i + j]) * z[i + j];
  }
  for (int j = 0; i < n; ++i, ++j) partial[j] += static_cast<double>(row[i]) * z[i];
  for (int width = kPartials / 2; width > 0; width /= 2) {
    for (int j = 0; j < width; ++j) partial[j] += partial[j + width];
  }
  return partial[0];
}

}  // namespace

// Every row's k experts (ascending) and weights: softmax over all experts'
// logits, the top k, renormalised over them, times the experts' scales.
void Transformer::Route(int layer, int n, ThreadPool& pool) {
  const LayerSpec& l = spec_.layers[layer];
  const LayerWeights& w = weights_.layers[layer];
  const int H = spec_.hidden_size;
  const int E = l.num_experts;
  const int k = l.num_experts_per_token;
  const float root = 1.0f / std::sqrt(static_cast<float>(H));
  const float* router = router_[layer].data();
  ForEachIndex(pool, n, [&](int t) {
    // z = RMSNorm(x) * scale * H^-1/2 into the row's first route_out_ slot.
    float* z = &route_out_[static_cast<size_t>(t) * k * H];
    RMSNorm(&x_[static_cast<size_t>(t) * H], w.router_scale.data(), spec_.rms_norm_eps, H, z);
    for (int i = 0; i < H; ++i) z[i] *= root;
    float probs[4096];
    for (int e = 0; e < E; ++e) {
      probs[e] = static_cast<float>(RouterLogit(router + static_cast<size_t>(e) * H, z, H));
    }
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
  });
}

// route_out_[c] = w_c * Down_e(gelu_tanh(Gate_e y) * Up_e y) for the
// `count` choices of expert e in expert_choices_, y the chooser's row of
// normed_. A row's result is the same whoever else chose the expert (every
// MatMul kernel sums a row in one order for any batch).
void Transformer::RunExpert(int layer, int expert, int count, ThreadPool& pool) {
  const LayerSpec& l = spec_.layers[layer];
  const LayerWeights& w = weights_.layers[layer];
  const int H = spec_.hidden_size;
  const int Fe = l.expert_intermediate_size;
  const int k = l.num_experts_per_token;
  const WeightMatrix& gate_up = w.expert_gate_up[expert];
  const WeightMatrix& down = w.expert_down[expert];
  expert_tokens_[static_cast<size_t>(layer) * expert_stride_ + expert] += count;
  for (int i = 0; i < count; ++i) {
    const float* y = &normed_[static_cast<size_t>(expert_choices_[i] / k) * H];
    std::copy(y, y + H, &expert_in_[static_cast<size_t>(i) * H]);
  }
  MatMul(gate_up, expert_in_.data(), count, expert_gate_up_.data(), 2 * Fe, pool);
  for (int i = 0; i < count; ++i) {
    float* gu = &expert_gate_up_[static_cast<size_t>(i) * 2 * Fe];
    float* act = &expert_act_[static_cast<size_t>(i) * Fe];
    std::copy(gu + Fe, gu + 2 * Fe, act);
    GeluTanhMul(gu, act, Fe);
  }
  MatMul(down, expert_act_.data(), count, expert_out_.data(), H, pool);
  for (int i = 0; i < count; ++i) {
    const int c = expert_choices_[i];
    const float weight = route_weight_[c];
    const float* y = &expert_out_[static_cast<size_t>(i) * H];
    float* out = &route_out_[static_cast<size_t>(c) * H];
    for (int j = 0; j < H; ++j) out[j] = y[j] * weight;
  }
}

}  // namespace gemma
