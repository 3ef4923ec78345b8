// Per-target bodies of the vector ops of kernels/ops.h other than MatMul:
// RMSNorm, GeluTanhMul, SoftCap, Softmax, ArgMax, Dot, AddScaled, ExpShifted. Element counts need
// not be multiples of the lane count: the last partial vector goes through a
// small zero-padded stack buffer, so transcendental ops use the same vector
// code (and rounding) for every element.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hwy/highway.h"

#if defined(GEMMA_KERNELS_ELEMENTWISE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef GEMMA_KERNELS_ELEMENTWISE_INL_H_
#undef GEMMA_KERNELS_ELEMENTWISE_INL_H_
#else
#define GEMMA_KERNELS_ELEMENTWISE_INL_H_
#endif

#include "hwy/contrib/math/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace gemma {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using EF = hn::ScalableTag<float>;

// Calls fn(offset, count) for each vector-sized piece of [0, n): full vectors
// with count == Lanes, then at most one partial piece.
template <class Fn>
HWY_INLINE void ForEachPiece(EF d, int64_t n, Fn&& fn) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) fn(i, N);
  if (i < n) fn(i, n - i);
}

// Loads `count` (<= Lanes) floats, zero-padded.
HWY_INLINE hn::Vec<EF> LoadPiece(EF d, const float* p, int64_t count) {
  if (count == static_cast<int64_t>(hn::Lanes(d))) return hn::LoadU(d, p);
  HWY_ALIGN float buf[hn::MaxLanes(EF())] = {};
  std::memcpy(buf, p, static_cast<size_t>(count) * sizeof(float));
  return hn::Load(d, buf);
}

HWY_INLINE void StorePiece(EF d, hn::Vec<EF> v, float* p, int64_t count) {
  if (count == static_cast<int64_t>(hn::Lanes(d))) return hn::StoreU(v, d, p);
  HWY_ALIGN float buf[hn::MaxLanes(EF())];
  hn::Store(v, d, buf);
  std::memcpy(p, buf, static_cast<size_t>(count) * sizeof(float));
}

HWY_INLINE float DotT(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, int64_t n) {
  const EF d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto acc0 = hn::Zero(d), acc1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    acc0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), acc0);
    acc1 = hn::MulAdd(hn::LoadU(d, a + i + N), hn::LoadU(d, b + i + N), acc1);
  }
  for (; i < n; i += N) {
    const int64_t count = std::min(N, n - i);
    acc0 = hn::MulAdd(LoadPiece(d, a + i, count), LoadPiece(d, b + i, count), acc0);
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(acc0, acc1)));
}

void RMSNormT(const float* x, const float* gain, float eps, int64_t n, float* out) {
  const EF d;
  const float mean_sq = DotT(x, x, n) / static_cast<float>(n);
  const auto scale = hn::Set(d, 1.0f / std::sqrt(mean_sq + eps));
  // out may alias x: each piece is read before it is written.
  ForEachPiece(d, n, [&](int64_t i, int64_t count) HWY_ATTR {
    const auto v =
        hn::Mul(hn::Mul(LoadPiece(d, x + i, count), scale), LoadPiece(d, gain + i, count));
    StorePiece(d, v, out + i, count);
  });
}

void GeluTanhMulT(const float* gate, float* x, int64_t n) {
  const EF d;
  // gelu_tanh(g) = 0.5 g (1 + tanh(sqrt(2 / pi) (g + 0.044715 g^3))).
  const auto k_sqrt_2_over_pi = hn::Set(d, 0.7978845608028654f);
  const auto k_cubic = hn::Set(d, 0.044715f);
  const auto k_half = hn::Set(d, 0.5f);
  const auto k_one = hn::Set(d, 1.0f);
  ForEachPiece(d, n, [&](int64_t i, int64_t count) HWY_ATTR {
    const auto g = LoadPiece(d, gate + i, count);
    const auto inner = hn::Mul(k_sqrt_2_over_pi, hn::MulAdd(hn::Mul(k_cubic, g), hn::Mul(g, g), g));
    const auto gelu = hn::Mul(hn::Mul(k_half, g), hn::Add(k_one, hn::Tanh(d, inner)));
    StorePiece(d, hn::Mul(gelu, LoadPiece(d, x + i, count)), x + i, count);
  });
}

void SoftCapT(float cap, float* x, int64_t n) {
  const EF d;
  const auto vcap = hn::Set(d, cap);
  ForEachPiece(d, n, [&](int64_t i, int64_t count) HWY_ATTR {
    const auto v = hn::Div(LoadPiece(d, x + i, count), vcap);
    StorePiece(d, hn::Mul(vcap, hn::Tanh(d, v)), x + i, count);
  });
}

void SoftmaxT(float* x, int64_t n) {
  if (n <= 0) return;
  const EF d;
  auto vmax = hn::Set(d, -INFINITY);
  ForEachPiece(d, n, [&](int64_t i, int64_t count) HWY_ATTR {
    // Padding lanes hold -inf so they never win.
    const auto v = LoadPiece(d, x + i, count);
    const auto valid = hn::FirstN(d, static_cast<size_t>(count));
    vmax = hn::Max(vmax, hn::IfThenElse(valid, v, hn::Set(d, -INFINITY)));
  });
  const auto max = hn::MaxOfLanes(d, vmax);
  auto vsum = hn::Zero(d);
  ForEachPiece(d, n, [&](int64_t i, int64_t count) HWY_ATTR {
    const auto e = hn::Exp(d, hn::Sub(LoadPiece(d, x + i, count), max));
    const auto valid = hn::FirstN(d, static_cast<size_t>(count));
    vsum = hn::Add(vsum, hn::IfThenElseZero(valid, e));
    StorePiece(d, e, x + i, count);
  });
  const auto inv = hn::Set(d, 1.0f / hn::GetLane(hn::SumOfLanes(d, vsum)));
  ForEachPiece(d, n, [&](int64_t i, int64_t count) HWY_ATTR {
    StorePiece(d, hn::Mul(LoadPiece(d, x + i, count), inv), x + i, count);
  });
}

// The first index of the largest non-NaN value (0 when all are NaN): the
// largest with NaN lanes as -inf, then the first vector holding it. -0 and +0
// compare equal, so the first of either wins, as in a scan with >.
int64_t ArgMaxT(const float* x, int64_t n) {
  if (n <= 0) return 0;
  const EF d;
  const auto neg_inf = hn::Set(d, -INFINITY);
  auto vmax = neg_inf;
  ForEachPiece(d, n, [&](int64_t i, int64_t count) HWY_ATTR {
    const auto v = LoadPiece(d, x + i, count);
    const auto finite_or_inf = hn::IfThenElse(hn::IsNaN(v), neg_inf, v);
    vmax = hn::Max(
        vmax, hn::IfThenElse(hn::FirstN(d, static_cast<size_t>(count)), finite_or_inf, neg_inf));
  });
  const float max = hn::GetLane(hn::MaxOfLanes(d, vmax));
  const auto vm = hn::Set(d, max);
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const intptr_t k = hn::FindFirstTrue(d, hn::Eq(hn::LoadU(d, x + i), vm));
    if (k >= 0) return i + k;
  }
  for (; i < n; ++i) {
    if (x[i] == max) return i;
  }
  return 0;  // every value NaN
}

float DotF32T(const float* a, const float* b, int64_t n) { return DotT(a, b, n); }

void AddScaledT(float a, const float* x, float* out, int64_t n) {
  const EF d;
  const auto va = hn::Set(d, a);
  ForEachPiece(d, n, [&](int64_t i, int64_t count) HWY_ATTR {
    StorePiece(d, hn::MulAdd(va, LoadPiece(d, x + i, count), LoadPiece(d, out + i, count)), out + i,
               count);
  });
}

float ExpShiftedT(const float* x, float shift, float* out, int64_t n) {
  const EF d;
  const auto vshift = hn::Set(d, shift);
  auto vsum = hn::Zero(d);
  ForEachPiece(d, n, [&](int64_t i, int64_t count) HWY_ATTR {
    const auto e = hn::Exp(d, hn::Sub(LoadPiece(d, x + i, count), vshift));
    vsum = hn::Add(vsum, hn::IfThenElseZero(hn::FirstN(d, static_cast<size_t>(count)), e));
    StorePiece(d, e, out + i, count);
  });
  return hn::GetLane(hn::SumOfLanes(d, vsum));
}

// out[t * rows + r] = the f64 sum of w[r, c] * x[t][c] over c, for t < NT,
// each f32 product widened to f64 (where it is exact) and summed in 16
// interleaved partial sums, then pairwise: a fixed order, so the same bits on
// every target and compiler whether or not they vectorize or fuse it (a fused
// multiply-add of an exact product rounds as the add does). Plain loops of
// fixed trip counts over independent partial sums, which the compiler keeps
// in registers and vectorizes for the target; the NT vectors share each load
// of w.
template <int NT>
void DotsF64Tile(const float* w, int64_t rows, int64_t cols, const float* const* x, float* out) {
  constexpr int kPartials = 16;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = w + r * cols;
    double partial[NT][kPartials] = {};
    int64_t i = 0;
#if !HWY_HAVE_SCALABLE && HWY_TARGET != HWY_SCALAR
    // The 16 partial sums as kVecs vectors of kLanes f64 lanes (partial j in
    // lane j % kLanes of vector j / kLanes), in registers: GCC 12 kept the
    // plain loops' sums in memory and split them 8 + 4 + 2 + 1 + 1.
    const hn::ScalableTag<double> dd;
    const hn::Rebind<float, decltype(dd)> df;
    constexpr int kLanes = static_cast<int>(HWY_MIN(HWY_LANES(double), kPartials));
    constexpr int kVecs = kPartials / kLanes;
    hn::Vec<decltype(dd)> acc[NT][kVecs];
    for (int t = 0; t < NT; ++t) {
      for (int v = 0; v < kVecs; ++v) acc[t][v] = hn::Zero(dd);
    }
    for (; i + kPartials <= cols; i += kPartials) {
      for (int v = 0; v < kVecs; ++v) {
        const auto wv = hn::PromoteTo(dd, hn::LoadU(df, row + i + v * kLanes));
        for (int t = 0; t < NT; ++t) {
          const auto xv = hn::PromoteTo(dd, hn::LoadU(df, x[t] + i + v * kLanes));
          acc[t][v] = hn::MulAdd(wv, xv, acc[t][v]);  // the product is exact: one rounding
        }
      }
    }
    for (int t = 0; t < NT; ++t) {
      for (int v = 0; v < kVecs; ++v) hn::StoreU(acc[t][v], dd, &partial[t][v * kLanes]);
    }
#else
    for (; i + kPartials <= cols; i += kPartials) {
      for (int t = 0; t < NT; ++t) {
        for (int j = 0; j < kPartials; ++j) {
          partial[t][j] += static_cast<double>(row[i + j]) * static_cast<double>(x[t][i + j]);
        }
      }
    }
#endif
    for (int t = 0; t < NT; ++t) {
      double* p = partial[t];
      for (int64_t k = i, j = 0; k < cols; ++k, ++j) {
        p[j] += static_cast<double>(row[k]) * static_cast<double>(x[t][k]);
      }
      for (int width = kPartials / 2; width > 0; width /= 2) {
        for (int j = 0; j < width; ++j) p[j] += p[j + width];
      }
      out[t * rows + r] = static_cast<float>(p[0]);
    }
  }
}

void DotsF64T(const float* w, int64_t rows, int64_t cols, const float* const* x, int num_x,
              float* out) {
  static_assert(kDotsF64Tile == 4, "one case per tile size");
  switch (num_x) {
    case 1:
      return DotsF64Tile<1>(w, rows, cols, x, out);
    case 2:
      return DotsF64Tile<2>(w, rows, cols, x, out);
    case 3:
      return DotsF64Tile<3>(w, rows, cols, x, out);
    default:
      return DotsF64Tile<4>(w, rows, cols, x, out);
  }
}

// The target dynamic dispatch runs (what SimdTargetName reports).
int64_t DispatchedTargetT() { return HWY_TARGET; }

}  // namespace HWY_NAMESPACE
}  // namespace gemma
HWY_AFTER_NAMESPACE();

#endif  // GEMMA_KERNELS_ELEMENTWISE_INL_H_ toggle
