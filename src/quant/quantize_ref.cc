// Reference quantizers for the plain float types and ggml's legacy 32-element
// blocks. They follow ggml's quantize_row_*_ref step by step (which scale is
// picked, the reciprocal, the truncating casts), because llama-quantize writes
// these bytes and our own files should be identical to its output.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "base/half.h"
#include "quant/blocks.h"
#include "quant/quant.h"
#include "quant/quantize_k.h"

// Bit-exact parity with llama-quantize: its ggml is built with GCC, -O3 and
// FMA enabled, so the compiler fuses `x * id` with the `+ 8.5` that follows.
// We spell those fused multiply-adds out with std::fma and keep the compiler
// from fusing anything else, whatever our own build flags are.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace gemma {
namespace {

// The value of largest magnitude (with its sign); the first one on ties.
float SignedAbsMax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void MinMax(const float* x, int n, float* min, float* max) {
  *min = FLT_MAX;
  *max = -FLT_MAX;
  for (int j = 0; j < n; ++j) {
    if (x[j] < *min) *min = x[j];
    if (x[j] > *max) *max = x[j];
  }
}

// Symmetric 4-bit: the extreme value maps to -8, so the other side gets +7.
GEMMA_FMA_CLONES void QuantizeQ4_0(const float* x, BlockQ4_0* b) {
  const float d = SignedAbsMax(x, kQK) / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b->d.Set(d);
  for (int j = 0; j < 16; ++j) {
    // The cast truncates; the +8.5 offset makes that round-half-up. 16 (from
    // the extreme value on the positive side) is clamped to 15.
    const int lo = std::min(15, static_cast<int>(static_cast<int8_t>(std::fma(x[j], id, 8.5f))));
    const int hi =
        std::min(15, static_cast<int>(static_cast<int8_t>(std::fma(x[16 + j], id, 8.5f))));
    b->qs[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

GEMMA_FMA_CLONES void QuantizeQ4_1(const float* x, BlockQ4_1* b) {
  float min, max;
  MinMax(x, kQK, &min, &max);
  const float d = (max - min) / 15.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b->d.Set(d);
  b->m.Set(min);
  for (int j = 0; j < 16; ++j) {
    const int lo =
        std::min(15, static_cast<int>(static_cast<int8_t>(std::fma(x[j] - min, id, 0.5f))));
    const int hi =
        std::min(15, static_cast<int>(static_cast<int8_t>(std::fma(x[16 + j] - min, id, 0.5f))));
    b->qs[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

void StoreU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

GEMMA_FMA_CLONES void QuantizeQ5_0(const float* x, BlockQ5_0* b) {
  const float d = SignedAbsMax(x, kQK) / -16.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b->d.Set(d);
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    const int lo = std::min(31, static_cast<int>(static_cast<int8_t>(std::fma(x[j], id, 16.5f))));
    const int hi =
        std::min(31, static_cast<int>(static_cast<int8_t>(std::fma(x[16 + j], id, 16.5f))));
    b->qs[j] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
    qh |= static_cast<uint32_t>((lo >> 4) & 1) << j;
    qh |= static_cast<uint32_t>((hi >> 4) & 1) << (j + 16);
  }
  StoreU32(b->qh, qh);
}

GEMMA_FMA_CLONES void QuantizeQ5_1(const float* x, BlockQ5_1* b) {
  float min, max;
  MinMax(x, kQK, &min, &max);
  const float d = (max - min) / 31.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b->d.Set(d);
  b->m.Set(min);
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    // ggml casts to uint8_t here (values are >= 0 and at most 31.5).
    const int lo = static_cast<uint8_t>(std::fma(x[j] - min, id, 0.5f));
    const int hi = static_cast<uint8_t>(std::fma(x[16 + j] - min, id, 0.5f));
    b->qs[j] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
    qh |= static_cast<uint32_t>((lo >> 4) & 1) << j;
    qh |= static_cast<uint32_t>((hi >> 4) & 1) << (j + 16);
  }
  StoreU32(b->qh, qh);
}

void QuantizeQ8_0(const float* x, BlockQ8_0* b) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  b->d.Set(d);
  // roundf: half away from zero, unlike the K-quants' NearestInt.
  for (int j = 0; j < kQK; ++j) b->qs[j] = static_cast<int8_t>(std::round(x[j] * id));
}

template <typename Block, typename Fn>
void ForEachBlock(const float* src, void* dst, int64_t n, int block_elems, Fn fn) {
  Block* blocks = static_cast<Block*>(dst);
  for (int64_t i = 0; i < n / block_elems; ++i) fn(src + i * block_elems, &blocks[i]);
}

}  // namespace

bool QuantizeSupports(DType type) {
  switch (type) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ8_0:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

void QuantizeRowRef(DType type, const float* src, void* dst, int64_t n) {
  if (!QuantizeSupports(type)) Fail("quantize: unsupported type ", Name(type));
  const int block = Info(type).block_elems;
  if (n < 0 || n % block != 0) {
    Fail("quantize: ", n, " elements is not a multiple of the ", Name(type), " block size");
  }
  uint8_t* bytes = static_cast<uint8_t*>(dst);
  switch (type) {
    case DType::kF32:
      if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = F32ToF16(src[i]);
        bytes[2 * i] = static_cast<uint8_t>(h & 0xff);
        bytes[2 * i + 1] = static_cast<uint8_t>(h >> 8);
      }
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = F32ToBf16(src[i]);
        bytes[2 * i] = static_cast<uint8_t>(h & 0xff);
        bytes[2 * i + 1] = static_cast<uint8_t>(h >> 8);
      }
      return;
    case DType::kQ4_0:
      return ForEachBlock<BlockQ4_0>(src, dst, n, block, QuantizeQ4_0);
    case DType::kQ4_1:
      return ForEachBlock<BlockQ4_1>(src, dst, n, block, QuantizeQ4_1);
    case DType::kQ5_0:
      return ForEachBlock<BlockQ5_0>(src, dst, n, block, QuantizeQ5_0);
    case DType::kQ5_1:
      return ForEachBlock<BlockQ5_1>(src, dst, n, block, QuantizeQ5_1);
    case DType::kQ8_0:
      return ForEachBlock<BlockQ8_0>(src, dst, n, block, QuantizeQ8_0);
    case DType::kQ4_K:
      return ForEachBlock<BlockQ4_K>(src, dst, n, block, QuantizeBlockQ4_K);
    case DType::kQ5_K:
      return ForEachBlock<BlockQ5_K>(src, dst, n, block, QuantizeBlockQ5_K);
    case DType::kQ6_K:
      return ForEachBlock<BlockQ6_K>(src, dst, n, block, QuantizeBlockQ6_K);
    default:
      break;
  }
}

}  // namespace gemma
