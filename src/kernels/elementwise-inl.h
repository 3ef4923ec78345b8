// Per-target bodies of the vector ops of kernels/ops.h other than MatMul:
// RMSNorm, GeluTanhMul, SoftCap, Softmax, Dot, AddScaled, ExpShifted. Element counts need
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

// The target dynamic dispatch runs (what SimdTargetName reports).
int64_t DispatchedTargetT() { return HWY_TARGET; }

}  // namespace HWY_NAMESPACE
}  // namespace gemma
HWY_AFTER_NAMESPACE();

#endif  // GEMMA_KERNELS_ELEMENTWISE_INL_H_ toggle
