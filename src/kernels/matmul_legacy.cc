// Dynamic-dispatch TU for MatMul / DequantizeRow on the Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 weight types.
// foreach_target.h re-includes this file once per SIMD target.
#include <cstdint>

#include "base/error.h"
#include "kernels/matmul_families.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_legacy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/decode_legacy-inl.h"
#include "kernels/matmul-inl.h"

HWY_BEFORE_NAMESPACE();
namespace gemma {
namespace HWY_NAMESPACE {

// Calls fn(Decoder{}) for w.type.
template <class Fn>
void WithLegacyDecoder(DType type, Fn&& fn) {
  switch (type) {
    case DType::kQ4_0:
      return fn(DecQ4_0{});
    case DType::kQ4_1:
      return fn(DecQ4_1{});
    case DType::kQ5_0:
      return fn(DecQ5_0{});
    case DType::kQ5_1:
      return fn(DecQ5_1{});
    case DType::kQ8_0:
      return fn(DecQ8_0{});
    default:
      Fail("MatMul: ", Name(type), " is not a legacy weight type");
  }
}

void MatMulLegacyT(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                   int64_t y_stride, ThreadPool& pool) {
  WithLegacyDecoder(w.type, [&](auto dec) HWY_ATTR {
    MatMulT<decltype(dec)>(w, x, num_tokens, y, y_stride, pool);
  });
}

void DequantizeRowLegacyT(const WeightMatrix& w, int64_t r, float* out) {
  WithLegacyDecoder(w.type, [&](auto dec) HWY_ATTR { DequantizeRowT<decltype(dec)>(w, r, out); });
}

}  // namespace HWY_NAMESPACE
}  // namespace gemma
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace gemma::kernels {

HWY_EXPORT(MatMulLegacyT);
HWY_EXPORT(DequantizeRowLegacyT);

void MatMulLegacy(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                  int64_t y_stride, ThreadPool& pool) {
  HWY_DYNAMIC_DISPATCH(MatMulLegacyT)(w, x, num_tokens, y, y_stride, pool);
}

void DequantizeRowLegacy(const WeightMatrix& w, int64_t r, float* out) {
  HWY_DYNAMIC_DISPATCH(DequantizeRowLegacyT)(w, r, out);
}

}  // namespace gemma::kernels
#endif  // HWY_ONCE
