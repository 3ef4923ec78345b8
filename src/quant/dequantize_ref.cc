// Scalar reference dequantization, written straight from the formulas of shared
// spec weight-formats.md C.2/C.3 (value index by value index) so that it can
// serve as the oracle for the SIMD kernels.
#include <cstring>

#include "base/error.h"
#include "base/half.h"
#include "quant/blocks.h"
#include "quant/quant.h"

namespace gemma {
namespace {

uint16_t LoadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

void DequantQ4_0(const BlockQ4_0* b, float* y) {
  const float d = b->d.Get();
  for (int k = 0; k < 16; ++k) {
    y[k] = d * static_cast<float>((b->qs[k] & 0xF) - 8);
    y[k + 16] = d * static_cast<float>((b->qs[k] >> 4) - 8);
  }
}

void DequantQ4_1(const BlockQ4_1* b, float* y) {
  const float d = b->d.Get();
  const float m = b->m.Get();
  for (int k = 0; k < 16; ++k) {
    y[k] = d * static_cast<float>(b->qs[k] & 0xF) + m;
    y[k + 16] = d * static_cast<float>(b->qs[k] >> 4) + m;
  }
}

uint32_t LoadU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

void DequantQ5_0(const BlockQ5_0* b, float* y) {
  const float d = b->d.Get();
  const uint32_t qh = LoadU32(b->qh);
  for (int k = 0; k < 16; ++k) {
    const int lo = (b->qs[k] & 0xF) | static_cast<int>(((qh >> k) & 1) << 4);
    const int hi = (b->qs[k] >> 4) | static_cast<int>(((qh >> (k + 16)) & 1) << 4);
    y[k] = d * static_cast<float>(lo - 16);
    y[k + 16] = d * static_cast<float>(hi - 16);
  }
}

void DequantQ5_1(const BlockQ5_1* b, float* y) {
  const float d = b->d.Get();
  const float m = b->m.Get();
  const uint32_t qh = LoadU32(b->qh);
  for (int k = 0; k < 16; ++k) {
    const int lo = (b->qs[k] & 0xF) | static_cast<int>(((qh >> k) & 1) << 4);
    const int hi = (b->qs[k] >> 4) | static_cast<int>(((qh >> (k + 16)) & 1) << 4);
    y[k] = d * static_cast<float>(lo) + m;
    y[k + 16] = d * static_cast<float>(hi) + m;
  }
}

void DequantQ8_0(const BlockQ8_0* b, float* y) {
  const float d = b->d.Get();
  for (int k = 0; k < kQK; ++k) y[k] = d * static_cast<float>(b->qs[k]);
}

void DequantQ2_K(const BlockQ2_K* b, float* y) {
  const float d = b->d.Get();
  const float dmin = b->dmin.Get();
  for (int h = 0; h < 2; ++h) {
    const uint8_t* qs = b->qs + 32 * h;
    for (int j = 0; j < 4; ++j) {
      const int sc1 = b->scales[8 * h + 2 * j];
      const int sc2 = b->scales[8 * h + 2 * j + 1];
      float* out = y + 128 * h + 32 * j;
      for (int l = 0; l < 16; ++l) {
        out[l] = d * static_cast<float>(sc1 & 0xF) * static_cast<float>((qs[l] >> (2 * j)) & 3) -
                 dmin * static_cast<float>(sc1 >> 4);
        out[16 + l] =
            d * static_cast<float>(sc2 & 0xF) * static_cast<float>((qs[16 + l] >> (2 * j)) & 3) -
            dmin * static_cast<float>(sc2 >> 4);
      }
    }
  }
}

void DequantQ3_K(const BlockQ3_K* b, float* y) {
  const float d = b->d.Get();
  int scales[16];
  UnpackScalesQ3K(b->scales, scales);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* qs = b->qs + 32 * h;
    for (int j = 0; j < 4; ++j) {
      const int m = 1 << (4 * h + j);
      const float d1 = d * static_cast<float>(scales[8 * h + 2 * j]);
      const float d2 = d * static_cast<float>(scales[8 * h + 2 * j + 1]);
      float* out = y + 128 * h + 32 * j;
      for (int l = 0; l < 16; ++l) {
        const int q1 = ((qs[l] >> (2 * j)) & 3) - ((b->hmask[l] & m) ? 0 : 4);
        const int q2 = ((qs[16 + l] >> (2 * j)) & 3) - ((b->hmask[16 + l] & m) ? 0 : 4);
        out[l] = d1 * static_cast<float>(q1);
        out[16 + l] = d2 * static_cast<float>(q2);
      }
    }
  }
}

void DequantQ4_K(const BlockQ4_K* b, float* y) {
  const float d = b->d.Get();
  const float dmin = b->dmin.Get();
  for (int c = 0; c < 4; ++c) {
    int sc1, mn1, sc2, mn2;
    UnpackScaleMinK4(b->scales, 2 * c, &sc1, &mn1);
    UnpackScaleMinK4(b->scales, 2 * c + 1, &sc2, &mn2);
    const float d1 = d * static_cast<float>(sc1), m1 = dmin * static_cast<float>(mn1);
    const float d2 = d * static_cast<float>(sc2), m2 = dmin * static_cast<float>(mn2);
    const uint8_t* qs = b->qs + 32 * c;
    for (int l = 0; l < 32; ++l) {
      y[64 * c + l] = d1 * static_cast<float>(qs[l] & 0xF) - m1;
      y[64 * c + 32 + l] = d2 * static_cast<float>(qs[l] >> 4) - m2;
    }
  }
}

void DequantQ5_K(const BlockQ5_K* b, float* y) {
  const float d = b->d.Get();
  const float dmin = b->dmin.Get();
  for (int c = 0; c < 4; ++c) {
    int sc1, mn1, sc2, mn2;
    UnpackScaleMinK4(b->scales, 2 * c, &sc1, &mn1);
    UnpackScaleMinK4(b->scales, 2 * c + 1, &sc2, &mn2);
    const float d1 = d * static_cast<float>(sc1), m1 = dmin * static_cast<float>(mn1);
    const float d2 = d * static_cast<float>(sc2), m2 = dmin * static_cast<float>(mn2);
    const int u1 = 1 << (2 * c), u2 = 1 << (2 * c + 1);
    const uint8_t* qs = b->qs + 32 * c;
    for (int l = 0; l < 32; ++l) {
      const int q1 = (qs[l] & 0xF) + ((b->qh[l] & u1) ? 16 : 0);
      const int q2 = (qs[l] >> 4) + ((b->qh[l] & u2) ? 16 : 0);
      y[64 * c + l] = d1 * static_cast<float>(q1) - m1;
      y[64 * c + 32 + l] = d2 * static_cast<float>(q2) - m2;
    }
  }
}

void DequantQ6_K(const BlockQ6_K* b, float* y) {
  const float d = b->d.Get();
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b->ql + 64 * h;
    const uint8_t* qh = b->qh + 32 * h;
    const int8_t* sc = b->scales + 8 * h;
    float* out = y + 128 * h;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      out[l] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
      out[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      out[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      out[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
  }
}

// Runs `fn(block, out)` over the n / block_elems blocks of a row.
template <typename Block, typename Fn>
void ForEachBlock(const void* src, float* dst, int64_t n, int block_elems, Fn fn) {
  const Block* blocks = static_cast<const Block*>(src);
  for (int64_t i = 0; i < n / block_elems; ++i) fn(&blocks[i], dst + i * block_elems);
}

}  // namespace

bool DequantizeSupports(DType type) {
  switch (type) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ8_0:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

void DequantizeRowRef(DType type, const void* src, float* dst, int64_t n) {
  if (!DequantizeSupports(type)) Fail("dequantize: unsupported type ", Name(type));
  const int block = Info(type).block_elems;
  if (n < 0 || n % block != 0) {
    Fail("dequantize: ", n, " elements is not a multiple of the ", Name(type), " block size");
  }
  const uint8_t* bytes = static_cast<const uint8_t*>(src);
  switch (type) {
    case DType::kF32:
      if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = F16ToF32(LoadU16(bytes + 2 * i));
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToF32(LoadU16(bytes + 2 * i));
      return;
    case DType::kQ4_0:
      return ForEachBlock<BlockQ4_0>(src, dst, n, block, DequantQ4_0);
    case DType::kQ4_1:
      return ForEachBlock<BlockQ4_1>(src, dst, n, block, DequantQ4_1);
    case DType::kQ5_0:
      return ForEachBlock<BlockQ5_0>(src, dst, n, block, DequantQ5_0);
    case DType::kQ5_1:
      return ForEachBlock<BlockQ5_1>(src, dst, n, block, DequantQ5_1);
    case DType::kQ8_0:
      return ForEachBlock<BlockQ8_0>(src, dst, n, block, DequantQ8_0);
    case DType::kQ2_K:
      return ForEachBlock<BlockQ2_K>(src, dst, n, block, DequantQ2_K);
    case DType::kQ3_K:
      return ForEachBlock<BlockQ3_K>(src, dst, n, block, DequantQ3_K);
    case DType::kQ4_K:
      return ForEachBlock<BlockQ4_K>(src, dst, n, block, DequantQ4_K);
    case DType::kQ5_K:
      return ForEachBlock<BlockQ5_K>(src, dst, n, block, DequantQ5_K);
    case DType::kQ6_K:
      return ForEachBlock<BlockQ6_K>(src, dst, n, block, DequantQ6_K);
    default:
      break;
  }
}

}  // namespace gemma
