// Dynamic-dispatch TU for the vector ops of kernels/ops.h other than MatMul
// (bodies in elementwise-inl.h).
#include <cstdint>
#include <string>

#include "base/error.h"
#include "kernels/ops.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/elementwise.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/elementwise-inl.h"

#if HWY_ONCE
namespace gemma {

HWY_EXPORT(RMSNormT);
HWY_EXPORT(GeluTanhMulT);
HWY_EXPORT(SoftCapT);
HWY_EXPORT(SoftmaxT);
HWY_EXPORT(ArgMaxT);
HWY_EXPORT(DotF32T);
HWY_EXPORT(AddScaledT);
HWY_EXPORT(ExpShiftedT);
HWY_EXPORT(DotsF64T);
HWY_EXPORT(DispatchedTargetT);

std::string SimdTargetName() { return hwy::TargetName(HWY_DYNAMIC_DISPATCH(DispatchedTargetT)()); }

void RMSNorm(const float* x, const float* gain, float eps, int64_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(RMSNormT)(x, gain, eps, n, out);
}

void GeluTanhMul(const float* gate, float* x, int64_t n) {
  HWY_DYNAMIC_DISPATCH(GeluTanhMulT)(gate, x, n);
}

void SoftCap(float cap, float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(SoftCapT)(cap, x, n); }

void Softmax(float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(SoftmaxT)(x, n); }

int64_t ArgMaxF32(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(ArgMaxT)(x, n); }

float Dot(const float* a, const float* b, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DotF32T)(a, b, n);
}

void AddScaled(float a, const float* x, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AddScaledT)(a, x, out, n);
}

float ExpShifted(const float* x, float shift, float* out, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(ExpShiftedT)(x, shift, out, n);
}

void DotsF64(const float* w, int64_t rows, int64_t cols, const float* const* x, int num_x,
             float* out) {
  if (num_x < 1 || num_x > kDotsF64Tile)
    Fail("DotsF64: ", num_x, " vectors (1 to ", kDotsF64Tile, ")");
  HWY_DYNAMIC_DISPATCH(DotsF64T)(w, rows, cols, x, num_x, out);
}

}  // namespace gemma
#endif  // HWY_ONCE
