// Repacking of Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and BF16 rows into the
// 16-row groups the packed kernels read (layout: docs/kernels.md). Runs once at load.
#include <algorithm>
#include <cstring>

#include "base/error.h"
#include "kernels/packed_matmul.h"
#include "quant/blocks.h"

namespace gemma {
namespace {

// Bytes of one group's share of one weight block (kPackRows rows of it).
size_t GroupBlockBytes(DType type) {
  switch (type) {
    case DType::kQ4_0:
      return 32 + 256;  // 16 f16 scales, 4 steps of 16 rows x 4 bytes
    case DType::kQ4_1:
      return 32 + 32 + 256;  // 16 f16 scales, 16 f16 mins, 4 steps
    case DType::kQ5_0:
      return 32 + 64 + 256;  // 16 f16 scales, 16 fifth-bit words, 4 steps
    case DType::kQ5_1:
      return 32 + 32 + 64 + 256;  // scales, mins, fifth-bit words, 4 steps
    case DType::kQ8_0:
      return 32 + 512;  // 16 f16 scales, 8 steps
    case DType::kQ4_K:
      return 64 + 256 + 2048;  // d and dmin, 8x16 scales and mins, 32 steps
    case DType::kQ5_K:
      return 64 + 256 + 64 * 40;  // d and dmin, 8x16 scales and mins, 64 5-bit steps
    case DType::kQ2_K:
      return 64 + 256 + 64 * 16;  // d and dmin, 16x16 scale|min bytes, 64 2-bit steps
    case DType::kQ3_K:
      return 32 + 256 + 64 * 24;  // d, 16x16 scales, 64 steps of 3-bit levels
    case DType::kQ6_K:
      return 32 + 256 + 64 * 48;  // d, 16x16 scales, 64 steps of 6-bit levels
    case DType::kBF16:
      return 1024;  // 32 values: 16 steps of 16 rows x 2 values
    default:
      return 0;
  }
}

// Values per packed block: the type's block, or 32 for BF16.
int64_t PackBlockElems(DType type) { return type == DType::kBF16 ? 32 : Info(type).block_elems; }

// Copies 4-byte step `s` of `src` for row `r` into its lane of a step area.
inline void PutStep(uint8_t* area, int s, int r, const uint8_t* src) {
  std::memcpy(area + static_cast<size_t>(s) * 64 + static_cast<size_t>(r) * 4, src + 4 * s, 4);
}

// Writes row r's share of 64 steps of `bits`-bit levels (levels[4s + i] is
// value i of step s): per step 8 * bits bytes, row r's 4 levels being the
// (4 * bits)-bit number at bit 4 * bits * (r % 2) of the `bits` bytes at
// bits * (r / 2), level i in bits bits * i... (the kernels' LoadLevels).
// Rows r and r + 1 share a byte when bits is odd: each writes only its own.
void PutLevels(uint8_t* steps, int bits, int r, const uint8_t* levels) {
  const int shift = 4 * bits * (r % 2);
  const uint64_t mask = ((uint64_t{1} << (4 * bits)) - 1) << shift;
  for (int s = 0; s < 64; ++s) {
    uint64_t row_bits = 0;
    for (int i = 0; i < 4; ++i) row_bits |= static_cast<uint64_t>(levels[4 * s + i]) << (bits * i);
    uint8_t* pair = steps + static_cast<size_t>(8 * bits * s + bits * (r / 2));
    uint64_t word = 0;
    std::memcpy(&word, pair, static_cast<size_t>(bits));
    word = (word & ~mask) | (row_bits << shift);
    std::memcpy(pair, &word, static_cast<size_t>(bits));
  }
}

// d, dmin and the unpacked 6-bit scales and mins of a Q4_K/Q5_K block.
template <class Block>
void PackScalesK4(const Block* b, int r, uint8_t* out) {
  std::memcpy(out + 2 * r, b->d.b, 2);
  std::memcpy(out + 32 + 2 * r, b->dmin.b, 2);
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    UnpackScaleMinK4(b->scales, j, &sc, &m);
    out[64 + j * 16 + r] = static_cast<uint8_t>(sc);
    out[192 + j * 16 + r] = static_cast<uint8_t>(m);
  }
}

void PackBlock(DType type, const uint8_t* block, int r, uint8_t* out) {
  switch (type) {
    case DType::kQ4_0: {
      const auto* b = reinterpret_cast<const BlockQ4_0*>(block);
      std::memcpy(out + 2 * r, b->d.b, 2);
      for (int s = 0; s < 4; ++s) PutStep(out + 32, s, r, b->qs);
      return;
    }
    case DType::kQ4_1: {
      const auto* b = reinterpret_cast<const BlockQ4_1*>(block);
      std::memcpy(out + 2 * r, b->d.b, 2);
      std::memcpy(out + 32 + 2 * r, b->m.b, 2);
      for (int s = 0; s < 4; ++s) PutStep(out + 64, s, r, b->qs);
      return;
    }
    case DType::kQ5_0: {
      const auto* b = reinterpret_cast<const BlockQ5_0*>(block);
      std::memcpy(out + 2 * r, b->d.b, 2);
      std::memcpy(out + 32 + 4 * r, b->qh, 4);
      for (int s = 0; s < 4; ++s) PutStep(out + 96, s, r, b->qs);
      return;
    }
    case DType::kQ5_1: {
      const auto* b = reinterpret_cast<const BlockQ5_1*>(block);
      std::memcpy(out + 2 * r, b->d.b, 2);
      std::memcpy(out + 32 + 2 * r, b->m.b, 2);
      std::memcpy(out + 64 + 4 * r, b->qh, 4);
      for (int s = 0; s < 4; ++s) PutStep(out + 128, s, r, b->qs);
      return;
    }
    case DType::kQ8_0: {
      const auto* b = reinterpret_cast<const BlockQ8_0*>(block);
      std::memcpy(out + 2 * r, b->d.b, 2);
      // Stored as q + 128 (u8), the operand VNNI multiplies unsigned.
      uint8_t biased[kQK];
      for (int i = 0; i < kQK; ++i) biased[i] = static_cast<uint8_t>(b->qs[i] ^ 0x80);
      for (int s = 0; s < 8; ++s) PutStep(out + 32, s, r, biased);
      return;
    }
    case DType::kQ4_K: {
      const auto* b = reinterpret_cast<const BlockQ4_K*>(block);
      PackScalesK4(b, r, out);
      for (int s = 0; s < 32; ++s) PutStep(out + 320, s, r, b->qs);
      return;
    }
    case DType::kQ5_K: {
      // Step 8j + s holds values 32j + 4s.. of sub-block j, at 5 bits.
      const auto* b = reinterpret_cast<const BlockQ5_K*>(block);
      PackScalesK4(b, r, out);
      uint8_t levels[kQK_K];
      for (int v = 0; v < kQK_K; ++v) {
        const int c = v / 64, l = v % 32, high = (v % 64) / 32;
        const int q = high ? b->qs[32 * c + l] >> 4 : b->qs[32 * c + l] & 0xF;
        levels[v] = static_cast<uint8_t>(q | (((b->qh[l] >> (2 * c + high)) & 1) << 4));
      }
      PutLevels(out + 320, 5, r, levels);
      return;
    }
    case DType::kQ2_K: {
      // d, dmin, the file's scale (low nibble) and min (high) byte per
      // 16 values, levels 0..3 at 2 bits: the file's size.
      const auto* b = reinterpret_cast<const BlockQ2_K*>(block);
      std::memcpy(out + 2 * r, b->d.b, 2);
      std::memcpy(out + 32 + 2 * r, b->dmin.b, 2);
      for (int j = 0; j < 16; ++j) out[64 + j * 16 + r] = b->scales[j];
      uint8_t levels[kQK_K];
      for (int v = 0; v < kQK_K; ++v) {
        const int h = v / 128, j = (v % 128) / 32, l = v % 32;
        levels[v] = static_cast<uint8_t>((b->qs[32 * h + l] >> (2 * j)) & 3);
      }
      PutLevels(out + 320, 2, r, levels);
      return;
    }
    case DType::kQ3_K: {
      // As Q6_K: d, 16 signed scales as int8, levels q + 4 (0..7) at 3 bits.
      const auto* b = reinterpret_cast<const BlockQ3_K*>(block);
      std::memcpy(out + 2 * r, b->d.b, 2);
      int scales[16];
      UnpackScalesQ3K(b->scales, scales);
      for (int j = 0; j < 16; ++j) out[32 + j * 16 + r] = static_cast<uint8_t>(scales[j]);
      uint8_t levels[kQK_K];
      for (int v = 0; v < kQK_K; ++v) {
        const int h = v / 128, j = (v % 128) / 32, l = v % 32;
        const int low = (b->qs[32 * h + l] >> (2 * j)) & 3;
        const int high = (b->hmask[l] >> (4 * h + j)) & 1;
        levels[v] = static_cast<uint8_t>(low | (high << 2));
      }
      PutLevels(out + 288, 3, r, levels);
      return;
    }
    case DType::kQ6_K: {
      const auto* b = reinterpret_cast<const BlockQ6_K*>(block);
      std::memcpy(out + 2 * r, b->d.b, 2);
      for (int j = 0; j < 16; ++j) out[32 + j * 16 + r] = static_cast<uint8_t>(b->scales[j]);
      uint8_t levels[kQK_K];
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = b->ql + 64 * h;
        const uint8_t* qh = b->qh + 32 * h;
        uint8_t* lv = levels + 128 * h;
        for (int l = 0; l < 32; ++l) {
          lv[l] = static_cast<uint8_t>((ql[l] & 0xF) | ((qh[l] & 3) << 4));
          lv[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
          lv[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
          lv[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
        }
      }
      PutLevels(out + 288, 6, r, levels);
      return;
    }
    case DType::kBF16:
      for (int s = 0; s < 16; ++s) PutStep(out, s, r, block);
      return;
    default:
      Fail("PackGroups: no packed layout for ", Name(type));
  }
}

}  // namespace

bool PackedMatMulSupports(const WeightMatrix& w) {
  if (!PackedMatMulAvailable() || GroupBlockBytes(w.type) == 0 ||
      w.cols % PackBlockElems(w.type) != 0)
    return false;
  return w.type != DType::kBF16 || PackedMatMulHasBf16();
}

ActivationBlocks ActivationBlocksFor(DType type) {
  switch (type) {
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ8_0:
      return {kQK, kQK};
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return {kQK, 16};
    default:
      Fail("packed MatMul: no activation blocks for ", Name(type));
  }
}

size_t PackedBytes(const WeightMatrix& w) {
  const int64_t groups = (w.rows + kPackRows - 1) / kPackRows;
  const int64_t blocks = w.cols / PackBlockElems(w.type);
  return static_cast<size_t>(groups * blocks) * GroupBlockBytes(w.type);
}

void PackGroups(const WeightMatrix& w, int64_t g0, int64_t g1, uint8_t* out) {
  const size_t gb = GroupBlockBytes(w.type);
  if (gb == 0) Fail("PackGroups: no packed layout for ", Name(w.type));
  const int64_t block_elems = PackBlockElems(w.type);
  const size_t block_bytes = BytesFor(w.type, block_elems);
  const int64_t blocks = w.cols / block_elems;
  for (int64_t g = g0; g < g1; ++g) {
    uint8_t* group = out + static_cast<size_t>(g * blocks) * gb;
    const int rows = static_cast<int>(std::min<int64_t>(kPackRows, w.rows - g * kPackRows));
    // Rows past the end (the last group's padding) are zero: scale 0. Full
    // groups are written in full, so only a partial one needs clearing.
    if (rows < kPackRows) std::memset(group, 0, static_cast<size_t>(blocks) * gb);
    for (int r = 0; r < rows; ++r) {
      const uint8_t* row = w.Row(g * kPackRows + r);
      for (int64_t b = 0; b < blocks; ++b) {
        PackBlock(w.type, row + static_cast<size_t>(b) * block_bytes, r,
                  group + static_cast<size_t>(b) * gb);
      }
    }
  }
}

}  // namespace gemma
