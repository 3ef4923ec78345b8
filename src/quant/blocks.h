// Byte layouts of ggml's block quantization formats (shared spec
// weight-formats.md section C.2/C.3). All fields are bytes or arrays of bytes so
// the structs have alignment 1 and no padding: blocks sit back to back at any
// address inside a mapped file. Multi-byte values (the f16 scales) are kept as
// little-endian byte pairs and read with Half().
#pragma once

#include <cstdint>
#include <cstring>

#include "base/half.h"

namespace gemma {

constexpr int kQK = 32;     // elements per legacy block
constexpr int kQK_K = 256;  // elements per K-quant super-block

// A little-endian IEEE f16 stored as two bytes.
struct Half16 {
  uint8_t b[2];
  float Get() const { return F16ToF32(static_cast<uint16_t>(b[0] | (b[1] << 8))); }
  void Set(float f) {
    const uint16_t h = F32ToF16(f);
    b[0] = static_cast<uint8_t>(h & 0xff);
    b[1] = static_cast<uint8_t>(h >> 8);
  }
};

struct BlockQ4_0 {
  Half16 d;
  uint8_t qs[kQK / 2];  // value k in the low nibble of qs[k], k + 16 in the high nibble
};

struct BlockQ4_1 {
  Half16 d;
  Half16 m;
  uint8_t qs[kQK / 2];
};

struct BlockQ5_0 {
  Half16 d;
  uint8_t qh[4];  // bit k (of the little-endian u32) = fifth bit of value k
  uint8_t qs[kQK / 2];
};

struct BlockQ5_1 {
  Half16 d;
  Half16 m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

struct BlockQ8_0 {
  Half16 d;
  int8_t qs[kQK];
};

struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // low nibble scale, high nibble min, per 16 values
  uint8_t qs[kQK_K / 4];
  Half16 d;
  Half16 dmin;
};

struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];  // sixteen 6-bit signed scales, packed
  Half16 d;
};

struct BlockQ4_K {
  Half16 d;
  Half16 dmin;
  uint8_t scales[12];  // eight 6-bit (scale, min) pairs, packed
  uint8_t qs[kQK_K / 2];
};

struct BlockQ5_K {
  Half16 d;
  Half16 dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  Half16 d;
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);

// Unpacks the j-th (0..7) 6-bit scale and min of a Q4_K/Q5_K super-block.
inline void UnpackScaleMinK4(const uint8_t* q, int j, int* scale, int* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Unpacks the sixteen signed 6-bit scales of a Q3_K super-block.
inline void UnpackScalesQ3K(const uint8_t* s, int out[16]) {
  for (int j = 0; j < 16; ++j) {
    const int low4 = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
    const int high2 = (s[8 + (j % 4)] >> (2 * (j / 4))) & 3;
    out[j] = (low4 | (high2 << 4)) - 32;
  }
}

}  // namespace gemma
