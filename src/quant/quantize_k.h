// Reference quantizers for one K-quant super-block (256 values), following
// ggml's quantize_row_q{4,5,6}_K_ref without an importance matrix.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "quant/blocks.h"

namespace gemma {

// The reference quantizers compute fused multiply-adds (std::fma) where ggml's
// compiled code has them. Without hardware FMA std::fma is a (correct but
// slow) library call, so the hot functions also get an FMA clone that the
// dynamic loader picks on CPUs that have it.
// Not under ThreadSanitizer: GCC instruments the clones' IFUNC resolver with
// __tsan_func_entry, and the dynamic loader runs resolvers while relocating
// the program, before libtsan has initialised its thread state, so the
// program segfaults before main. The TSan build uses the plain versions.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_THREAD__)
#define GEMMA_FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define GEMMA_FMA_CLONES
#endif

// NearestInt(a * b) with the product fused into the rounding addition, as
// ggml's nearest_int(a * b) compiles with FMA contraction.
inline int NearestIntOfProduct(float a, float b) {
  const float shifted = std::fma(a, b, 12582912.0f);
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  return (bits & 0x007fffff) - 0x00400000;
}

void QuantizeBlockQ4_K(const float* x, BlockQ4_K* b);
void QuantizeBlockQ5_K(const float* x, BlockQ5_K* b);
void QuantizeBlockQ6_K(const float* x, BlockQ6_K* b);

}  // namespace gemma
