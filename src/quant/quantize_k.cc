// K-quant reference quantizers. Each super-block is split into sub-blocks that
// get their own scale (and min), found by a small search that minimises a
// weighted squared error; the per-sub-block scales are then themselves
// quantized to 6 or 8 bits against one f16 super-scale. The search follows
// ggml's reference (same candidates, same weights, same tie-breaking) so our
// Q6_K output heads match llama-quantize's bytes.
#include "quant/quantize_k.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/quant.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace gemma {
namespace {

// ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this is zero.
constexpr float kGroupMaxEps = 1e-15f;

int Clamp(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Symmetric scale for n values with levels [-nmax, nmax), weights x^2.
// Writes the level + nmax of each value to L and returns the scale. Starts from
// mapping the extreme value to -nmax, then tries 18 nearby reciprocal scales and
// keeps the one with the best least-squares fit (ggml's make_qx_quants with
// rmse_type 1). The std::fma calls sit where ggml's compiled code fuses.
GEMMA_FMA_CLONES float SymmetricScale(const float* x, int n, int nmax, int8_t* L) {
  float max = 0.0f, amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::memset(L, 0, static_cast<size_t>(n));
    return 0.0f;
  }
  const float fnmax = static_cast<float>(nmax);
  // Levels and the two least-squares sums for reciprocal scale `iscale`.
  auto fit = [&](float iscale, float* sumlx, float* suml2, bool store) {
    *sumlx = 0.0f;
    *suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = Clamp(NearestIntOfProduct(iscale, x[i]), -nmax, nmax - 1);
      if (store) L[i] = static_cast<int8_t>(l + nmax);
      const float w = x[i] * x[i];
      const float fl = static_cast<float>(l);
      *sumlx = std::fma(w * x[i], fl, *sumlx);
      *suml2 = std::fma(w * fl, fl, *suml2);
    }
  };
  float sumlx, suml2;
  fit(-fnmax / max, &sumlx, &suml2, true);
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float iscale = -std::fma(0.1f, static_cast<float>(is), fnmax) / max;
    fit(iscale, &sumlx, &suml2, false);
    if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
      fit(iscale, &sumlx, &suml2, true);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Asymmetric scale and min for n values with levels [0, nmax] and the given
// weights: y = scale * L + min with min <= 0. Returns the scale and writes
// -min to *neg_min. Tries nstep + 1 reciprocal scales (rmin + rdelta * is +
// nmax) / range and, for each, solves the weighted least-squares problem for
// (scale, min) at fixed levels; keeps the lowest weighted error (ggml's
// make_qkx2_quants with squared error, fused multiply-adds where it has them).
GEMMA_FMA_CLONES float AsymmetricScale(const float* x, const float* weights, int n, int nmax,
                                       float rmin, float rdelta, int nstep, uint8_t* L,
                                       float* neg_min) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += weights[i];
    sum_x = std::fma(weights[i], x[i], sum_x);
  }
  if (min > 0.0f) min = 0.0f;
  if (max == min) {
    std::memset(L, 0, static_cast<size_t>(n));
    *neg_min = -min;
    return 0.0f;
  }
  const float fnmax = static_cast<float>(nmax);
  float iscale = fnmax / (max - min);
  float scale = 1.0f / iscale;
  float best_error = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = Clamp(NearestIntOfProduct(iscale, x[i] - min), 0, nmax);
    L[i] = static_cast<uint8_t>(l);
    const float diff = std::fma(scale, static_cast<float>(l), min) - x[i];
    best_error = std::fma(weights[i], diff * diff, best_error);
  }
  uint8_t aux[kQK_K];
  for (int is = 0; is <= nstep; ++is) {
    iscale = (std::fma(rdelta, static_cast<float>(is), rmin) + fnmax) / (max - min);
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = Clamp(NearestIntOfProduct(iscale, x[i] - min), 0, nmax);
      aux[i] = static_cast<uint8_t>(l);
      const float fl = static_cast<float>(l);
      const float wl = weights[i] * fl;
      sum_l += wl;
      sum_l2 = std::fma(wl, fl, sum_l2);
      sum_xl = std::fma(wl, x[i], sum_xl);
    }
    const float det = std::fma(sum_w, sum_l2, -(sum_l * sum_l));
    if (det <= 0.0f) continue;
    float this_scale = std::fma(sum_w, sum_xl, -(sum_x * sum_l)) / det;
    float this_min = std::fma(sum_l2, sum_x, -(sum_l * sum_xl)) / det;
    if (this_min > 0.0f) {
      this_min = 0.0f;
      this_scale = sum_xl / sum_l2;
    }
    float error = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float diff = std::fma(this_scale, static_cast<float>(aux[i]), this_min) - x[i];
      error = std::fma(weights[i], diff * diff, error);
    }
    if (error < best_error) {
      std::memcpy(L, aux, static_cast<size_t>(n));
      best_error = error;
      scale = this_scale;
      min = this_min;
    }
  }
  *neg_min = -min;
  return scale;
}

// Shared by Q4_K and Q5_K: 8 sub-blocks of 32 with (scale, min) found by
// AsymmetricScale, packed as 6-bit pairs against f16 d and dmin. Fills the
// levels L[0..256) in [0, nmax].
void QuantizeScaleMinK(const float* x, int nmax, float rmin, float rdelta, int nstep, Half16* d,
                       Half16* dmin, uint8_t packed[12], uint8_t* L) {
  float scales[8], mins[8], weights[32];
  float max_scale = 0.0f, max_min = 0.0f;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    // Weight each value by the group's rms plus its own magnitude: large
    // values matter more, but small ones are not ignored.
    float sum_x2 = 0.0f;
    for (int l = 0; l < 32; ++l) sum_x2 = std::fma(xs[l], xs[l], sum_x2);
    const float av_x = std::sqrt(sum_x2 / 32.0f);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = AsymmetricScale(xs, weights, 32, nmax, rmin, rdelta, nstep, L + 32 * j, &mins[j]);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
  std::memset(packed, 0, 12);
  for (int j = 0; j < 8; ++j) {
    // ggml stores these through uint8_t before the clamp.
    const int ls = std::min(
        63, static_cast<int>(static_cast<uint8_t>(NearestIntOfProduct(inv_scale, scales[j]))));
    const int lm =
        std::min(63, static_cast<int>(static_cast<uint8_t>(NearestIntOfProduct(inv_min, mins[j]))));
    if (j < 4) {
      packed[j] = static_cast<uint8_t>(ls);
      packed[j + 4] = static_cast<uint8_t>(lm);
    } else {
      packed[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      packed[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      packed[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  d->Set(max_scale / 63.0f);
  dmin->Set(max_min / 63.0f);
  // Re-derive the levels against the scales as they were actually stored.
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    UnpackScaleMinK4(packed, j, &sc, &m);
    const float ds = d->Get() * static_cast<float>(sc);
    if (ds == 0.0f) continue;
    const float dm = dmin->Get() * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) {
      L[32 * j + l] = static_cast<uint8_t>(Clamp(NearestInt((x[32 * j + l] + dm) / ds), 0, nmax));
    }
  }
}

}  // namespace

void QuantizeBlockQ4_K(const float* x, BlockQ4_K* b) {
  uint8_t L[kQK_K];
  QuantizeScaleMinK(x, 15, -1.0f, 0.1f, 20, &b->d, &b->dmin, b->scales, L);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      b->qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
  }
}

void QuantizeBlockQ5_K(const float* x, BlockQ5_K* b) {
  uint8_t L[kQK_K];
  QuantizeScaleMinK(x, 31, -0.5f, 0.1f, 15, &b->d, &b->dmin, b->scales, L);
  std::memset(b->qh, 0, sizeof(b->qh));
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
      if (lo > 15) b->qh[l] |= static_cast<uint8_t>(1 << (2 * c));
      if (hi > 15) b->qh[l] |= static_cast<uint8_t>(1 << (2 * c + 1));
      b->qs[32 * c + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
    }
  }
}

void QuantizeBlockQ6_K(const float* x, BlockQ6_K* b) {
  int8_t L[kQK_K];
  float scales[16];
  float max_scale = 0.0f, max_abs_scale = 0.0f;
  for (int j = 0; j < 16; ++j) {
    scales[j] = SymmetricScale(x + 16 * j, 16, 32, L + 16 * j);
    if (std::fabs(scales[j]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }
  if (max_abs_scale < kGroupMaxEps) {
    std::memset(b, 0, sizeof(*b));
    return;
  }
  // The largest scale maps to -128 so that the others fit in [-128, 127].
  const float iscale = -128.0f / max_scale;
  b->d.Set(1.0f / iscale);
  for (int j = 0; j < 16; ++j) {
    b->scales[j] = static_cast<int8_t>(std::min(127, NearestIntOfProduct(iscale, scales[j])));
  }
  for (int j = 0; j < 16; ++j) {
    const float d = b->d.Get() * static_cast<float>(b->scales[j]);
    if (d == 0.0f) continue;
    for (int i = 0; i < 16; ++i) {
      L[16 * j + i] = static_cast<int8_t>(Clamp(NearestInt(x[16 * j + i] / d), -32, 31) + 32);
    }
  }
  // Per 128-value half: ql holds the low nibbles of values l and l + 64 (and
  // l + 32, l + 96 at ql + 32), qh the four 2-bit high parts of l + 32k.
  for (int h = 0; h < 2; ++h) {
    const int8_t* Lh = L + 128 * h;
    uint8_t* ql = b->ql + 64 * h;
    uint8_t* qh = b->qh + 32 * h;
    for (int l = 0; l < 32; ++l) {
      const int q1 = Lh[l], q2 = Lh[l + 32], q3 = Lh[l + 64], q4 = Lh[l + 96];
      ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
      ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
      qh[l] =
          static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
  }
}

}  // namespace gemma
