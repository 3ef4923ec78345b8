// Dynamic-dispatch TU for MatMul / DequantizeRow on the Q2_K, Q3_K, Q4_K, Q5_K, Q6_K weight types.
// foreach_target.h re-includes this file once per SIMD target.
#include <cstdint>

#include "base/error.h"
#include "kernels/matmul_families.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul_kquant.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/decode_kquant-inl.h"
#include "kernels/matmul-inl.h"

HWY_BEFORE_NAMESPACE();
namespace gemma {
namespace HWY_NAMESPACE {

// Calls fn(Decoder{}) for w.type.
template <class Fn>
void WithKQuantDecoder(DType type, Fn&& fn) {
  switch (type) {
    case DType::kQ2_K:
      return fn(DecQ2_K{});
    case DType::kQ3_K:
      return fn(DecQ3_K{});
    case DType::kQ4_K:
      return fn(DecQ4_K{});
    case DType::kQ5_K:
      return fn(DecQ5_K{});
    case DType::kQ6_K:
      return fn(DecQ6_K{});
    default:
      Fail("MatMul: ", Name(type), " is not a kquant weight type");
  }
}

void MatMulKQuantT(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                   int64_t y_stride, ThreadPool& pool) {
  WithKQuantDecoder(w.type, [&](auto dec) HWY_ATTR {
    MatMulT<decltype(dec)>(w, x, num_tokens, y, y_stride, pool);
  });
}

void DequantizeRowKQuantT(const WeightMatrix& w, int64_t r, float* out) {
  WithKQuantDecoder(w.type, [&](auto dec) HWY_ATTR { DequantizeRowT<decltype(dec)>(w, r, out); });
}

}  // namespace HWY_NAMESPACE
}  // namespace gemma
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace gemma::kernels {

HWY_EXPORT(MatMulKQuantT);
HWY_EXPORT(DequantizeRowKQuantT);

void MatMulKQuant(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
                  int64_t y_stride, ThreadPool& pool) {
  HWY_DYNAMIC_DISPATCH(MatMulKQuantT)(w, x, num_tokens, y, y_stride, pool);
}

void DequantizeRowKQuant(const WeightMatrix& w, int64_t r, float* out) {
  HWY_DYNAMIC_DISPATCH(DequantizeRowKQuantT)(w, r, out);
}

}  // namespace gemma::kernels
#endif  // HWY_ONCE
