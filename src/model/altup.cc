// Gemma 3n's decoder layers inside its AltUp streams. Reference: HF
// transformers' modeling_gemma3n.py (Gemma3nTextModel, Gemma3nTextDecoderLayer,
// Gemma3nTextAltUp, Gemma3nTextLaurelBlock); shared spec
// gemma-architecture.md section 5. K copies X_0..X_{K-1} of the residual
// stream; the layers process the active one (a = altup_active_idx):
//   init     X_0 = x0;  X_k = m(altup_proj_k(x0), x0)  (k >= 1)
//            m(y, r) = y * rms(r) / sqrt(max(mean(y^2), 1e-5))
//   mod(z)   = tanh(router(router_norm(z) / H))                    [K]
//   predict  c = prediction_coefs(mod(X_a));  P_i = X_i + sum_j c[i K + j] X_j
//   block    n = input_norm(P_a);  laurel = n + laurel_norm(right(left(n)))
//            g = P_a + post_attn_norm(attn(n));  u = (g + laurel) / sqrt(2)
//            act = u + post_ffw_norm(MLP(pre_ffw_norm(u)))  (sparse gate on some layers)
//   correct  c' = correction_coefs(mod(act)) + 1;  X_i = P_i + c'_i (act - P_a)
//   PLE      f = post_norm(proj(gelu_tanh(gate(X_a * correct_output_scale)) * ple_l));
//            X_i += f for i >= 1
//   output   x = mean(X_0, m(altup_unembed_k(X_k), X_0) for k >= 1)
// Every step is per row, so that a row's result does not depend on the
// batch.
#include <algorithm>
#include <cmath>

#include "kernels/ops.h"
#include "model/transformer.h"
#include "threading/thread_pool.h"

namespace gemma {
namespace {

float MeanSquare(const float* x, int n) {
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return static_cast<float>(sum / n);
}

// y *= rms(reference) / sqrt(max(mean(y^2), 1e-5)), in the reference's order
// (y * target) / magnitude.
void MatchMagnitude(float* y, const float* reference, int n) {
  const float target = std::sqrt(MeanSquare(reference, n));
  const float magnitude = std::sqrt(std::max(MeanSquare(y, n), 1e-5f));
  for (int i = 0; i < n; ++i) y[i] = y[i] * target / magnitude;
}

// out[r] = sum_c w[r, c] * x[c] for an f32 matrix [rows, cols].
void SmallMatVec(const float* w, const float* x, int rows, int cols, float* out) {
  for (int r = 0; r < rows; ++r) {
    double sum = 0;
    for (int c = 0; c < cols; ++c) sum += static_cast<double>(w[r * cols + c]) * x[c];
    out[r] = static_cast<float>(sum);
  }
}

constexpr int kMaxStreams = 64;  // ModelSpec::Validate's bound

}  // namespace

void Transformer::AltUpLayers(const Batch& batch, KvMemory& kv, ThreadPool& pool) {
  const int n = batch.rows();
  const int H = spec_.hidden_size;
  const int K = spec_.altup_num_inputs;
  const size_t row = static_cast<size_t>(H);
  auto stream = [&](std::vector<float>& s, int k, int t) {
    return &s[(static_cast<size_t>(k) * max_rows_ + t) * row];
  };

  // 1. The streams from the embedding x0 (in x_).
  for (int k = 1; k < K; ++k) {
    MatMul(weights_.altup_projections[k - 1], x_.data(), n, stream(altup_streams_, k, 0), H, pool);
  }
  ForEachIndex(pool, n, [&](int t) {
    const float* x0 = &x_[t * row];
    std::copy(x0, x0 + H, stream(altup_streams_, 0, t));
    for (int k = 1; k < K; ++k) MatchMagnitude(stream(altup_streams_, k, t), x0, H);
  });

  // 2. The layers; stream 0 is each layer's output (what the reference's
  // hidden states hold).
  for (int layer = 0; layer < spec_.num_layers(); ++layer) {
    AltUpLayer(layer, batch, kv, pool);
    Trace("layer_out", layer, stream(altup_streams_, 0, 0), n, H);
  }

  // 3. The streams back (into the predictions' space) and their mean into x_.
  for (int k = 1; k < K; ++k) {
    MatMul(weights_.altup_unembed_projections[k - 1], stream(altup_streams_, k, 0), n,
           stream(altup_predictions_, k, 0), H, pool);
  }
  ForEachIndex(pool, n, [&](int t) {
    const float* x0 = stream(altup_streams_, 0, t);
    float* out = &x_[t * row];
    std::copy(x0, x0 + H, out);
    for (int k = 1; k < K; ++k) {
      float* y = stream(altup_predictions_, k, t);
      MatchMagnitude(y, x0, H);
      for (int i = 0; i < H; ++i) out[i] += y[i];
    }
    for (int i = 0; i < H; ++i) out[i] /= static_cast<float>(K);
  });
}

void Transformer::AltUpLayer(int layer, const Batch& batch, KvMemory& kv, ThreadPool& pool) {
  const int n = batch.rows();
  const int H = spec_.hidden_size;
  const int a = spec_.altup_active_idx;
  const LayerSpec& l = spec_.layers[layer];
  const size_t row = static_cast<size_t>(H);

  // Predict; the block runs on the active prediction, in x_.
  AltUpPredict(layer, n, pool);
  ForEachIndex(pool, n, [&](int t) {
    const float* p = &altup_predictions_[(static_cast<size_t>(a) * max_rows_ + t) * row];
    std::copy(p, p + H, &x_[t * row]);
  });
  Trace("altup_active", layer, x_.data(), n, H);
  if (l.laurel_rank > 0) Laurel(layer, n, pool);
  Attention(layer, batch, kv, pool);
  if (l.laurel_rank > 0) {
    const float root2 = static_cast<float>(std::sqrt(2.0));
    ForEachIndex(pool, n, [&](int t) {
      float* x = &x_[t * row];
      const float* laurel = &laurel_out_[t * row];
      for (int i = 0; i < H; ++i) x[i] = (x[i] + laurel[i]) / root2;
    });
  }
  FeedForward(layer, n, pool);
  AltUpCorrect(layer, n, pool);
}

// altup_predictions_: P_i = X_i + sum_j c[i K + j] X_j, c from the active stream.
void Transformer::AltUpPredict(int layer, int n, ThreadPool& pool) {
  const int H = spec_.hidden_size;
  const int K = spec_.altup_num_inputs;
  const int a = spec_.altup_active_idx;
  const LayerWeights& w = weights_.layers[layer];
  const size_t row = static_cast<size_t>(H);
  const size_t stride = static_cast<size_t>(max_rows_) * row;  // between streams
  ForEachIndex(pool, n, [&](int t) {
    const float* x = &altup_streams_[t * row];
    float* p = &altup_predictions_[t * row];
    float modalities[kMaxStreams];
    float coefs[kMaxStreams * kMaxStreams];
    AltUpModalities(layer, x + a * stride, modalities);
    SmallMatVec(w.altup_prediction_coefs.data(), modalities, K * K, K, coefs);
    for (int i = 0; i < K; ++i) {
      for (int h = 0; h < H; ++h) {
        float sum = 0;
        for (int j = 0; j < K; ++j) sum += x[j * stride + h] * coefs[i * K + j];
        p[i * stride + h] = sum + x[i * stride + h];
      }
    }
  });
}

// X_i = P_i + c'_i (act - P_a), act the block's output in x_; then the
// per-layer input into the streams but the first.
void Transformer::AltUpCorrect(int layer, int n, ThreadPool& pool) {
  const int H = spec_.hidden_size;
  const int K = spec_.altup_num_inputs;
  const int a = spec_.altup_active_idx;
  const LayerWeights& w = weights_.layers[layer];
  const size_t row = static_cast<size_t>(H);
  const size_t stride = static_cast<size_t>(max_rows_) * row;
  ForEachIndex(pool, n, [&](int t) {
    const float* act = &x_[t * row];
    const float* p = &altup_predictions_[t * row];
    float* x = &altup_streams_[t * row];
    float modalities[kMaxStreams];
    float coefs[kMaxStreams];
    AltUpModalities(layer, act, modalities);
    SmallMatVec(w.altup_correction_coefs.data(), modalities, K, K, coefs);
    for (int i = 0; i < K; ++i) {
      const float c = coefs[i] + 1.0f;
      for (int h = 0; h < H; ++h) {
        x[i * stride + h] = (act[h] - p[a * stride + h]) * c + p[i * stride + h];
      }
    }
    // The scaled active stream, the per-layer input branch's input.
    float* scaled = &normed_[t * row];
    const float* scale = w.altup_correct_output_scale.data();
    for (int h = 0; h < H; ++h) scaled[h] = x[a * stride + h] * scale[h];
  });
  if (!spec_.layers[layer].per_layer_input) return;
  PerLayerInputBranch(layer, normed_.data(), n, pool);
  ForEachIndex(pool, n, [&](int t) {
    const float* f = &proj_[t * row];
    float* x = &altup_streams_[t * row];
    for (int i = 1; i < K; ++i) {
      for (int h = 0; h < H; ++h) x[i * stride + h] += f[h];
    }
  });
}

// laurel_out_ = n + post_laurel_norm(right(left(n))), n = input_norm(x_).
void Transformer::Laurel(int layer, int n, ThreadPool& pool) {
  const int H = spec_.hidden_size;
  const int R = spec_.layers[layer].laurel_rank;
  const LayerWeights& w = weights_.layers[layer];
  const float eps = spec_.rms_norm_eps;
  const size_t row = static_cast<size_t>(H);
  ForEachIndex(pool, n, [&](int t) {
    RMSNorm(&x_[t * row], w.input_norm.data(), eps, H, &normed_[t * row]);
  });
  MatMul(w.laurel_left, normed_.data(), n, laurel_mid_.data(), R, pool);
  MatMul(w.laurel_right, laurel_mid_.data(), n, laurel_out_.data(), H, pool);
  ForEachIndex(pool, n, [&](int t) {
    float* out = &laurel_out_[t * row];
    RMSNorm(out, w.laurel_post_norm.data(), eps, H, out);
    const float* normed = &normed_[t * row];
    for (int i = 0; i < H; ++i) out[i] = normed[i] + out[i];
  });
  Trace("laurel", layer, laurel_out_.data(), n, H);
}

void Transformer::AltUpModalities(int layer, const float* z, float* out) const {
  const int H = spec_.hidden_size;
  const int K = spec_.altup_num_inputs;
  const LayerWeights& w = weights_.layers[layer];
  std::vector<float> normed(static_cast<size_t>(H));
  RMSNorm(z, w.altup_router_norm.data(), spec_.rms_norm_eps, H, normed.data());
  const float scale = 1.0f / static_cast<float>(H);
  for (float& v : normed) v *= scale;
  SmallMatVec(w.altup_router.data(), normed.data(), K, H, out);
  for (int k = 0; k < K; ++k) out[k] = std::tanh(out[k]);
}

}  // namespace gemma
