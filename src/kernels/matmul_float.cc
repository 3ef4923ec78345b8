// Dynamic-dispatch TU for MatMul / DequantizeRow on the F32, F16, BF16 weight types.
// foreach_target.h re-includes this file once per SIMD target.
#include <cstdint>

#include "base/error.h"
#include "kernels/matmul_families.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_float.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/decode_float-inl.h"
#include "kernels/matmul-inl.h"

HWY_BEFORE_NAMESPACE();
namespace gemma {
namespace HWY_NAMESPACE {

// Calls fn(Decoder{}) for w.type.
template <class Fn>
void WithFloatDecoder(DType type, Fn&& fn) {
  switch (type) {
    case DType::kF32:
      return fn(DecF32{});
    case DType::kF16:
      return fn(DecF16{});
    case DType::kBF16:
      return fn(DecBF16{});
    default:
      Fail("MatMul: ", Name(type), " is not a float weight type");
  }
}

void MatMulFloatT(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                  int64_t y_stride, ThreadPool& pool) {
  WithFloatDecoder(w.type, [&](auto dec) HWY_ATTR {
    MatMulT<decltype(dec)>(w, x, num_tokens, y, y_stride, pool);
  });
}

void DequantizeRowFloatT(const WeightMatrix& w, int64_t r, float* out) {
  WithFloatDecoder(w.type, [&](auto dec) HWY_ATTR { DequantizeRowT<decltype(dec)>(w, r, out); });
}

}  // namespace HWY_NAMESPACE
}  // namespace gemma
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace gemma::kernels {

HWY_EXPORT(MatMulFloatT);
HWY_EXPORT(DequantizeRowFloatT);

void MatMulFloat(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                 int64_t y_stride, ThreadPool& pool) {
  HWY_DYNAMIC_DISPATCH(MatMulFloatT)(w, x, num_tokens, y, y_stride, pool);
}

void DequantizeRowFloat(const WeightMatrix& w, int64_t r, float* out) {
  HWY_DYNAMIC_DISPATCH(DequantizeRowFloatT)(w, r, out);
}

}  // namespace gemma::kernels
#endif  // HWY_ONCE
