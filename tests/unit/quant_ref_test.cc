// Reference quantization: the block layouts decoded by a second, independently
// written decoder (position -> byte/bit, instead of the spec's loop nests), and
// quantize -> dequantize round trips with error ranges bounded on both sides.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/error.h"
#include "base/half.h"
#include "quant/blocks.h"
#include "quant/quant.h"

namespace gemma {
namespace {

constexpr DType kAllTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0, DType::kQ4_1,
                               DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ2_K, DType::kQ3_K,
                               DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

float HalfAt(const uint8_t* p) { return F16ToF32(static_cast<uint16_t>(p[0] | (p[1] << 8))); }

void PutHalf(uint8_t* p, float f) {
  const uint16_t h = F32ToF16(f);
  p[0] = static_cast<uint8_t>(h);
  p[1] = static_cast<uint8_t>(h >> 8);
}

int Bit(const uint8_t* bytes, int bit) { return (bytes[bit / 8] >> (bit % 8)) & 1; }

// Value k of one block, located by where its bits live. Uses the observation
// that in every K-quant layout the scale of value k is number k / 16 (or k / 32
// for Q4_K/Q5_K), and derives byte and shift from k directly.
float SpecValue(DType type, const uint8_t* b, int k) {
  switch (type) {
    case DType::kQ4_0: {
      const int q = k < 16 ? (b[2 + k] & 15) : (b[2 + k - 16] >> 4);
      return HalfAt(b) * static_cast<float>(q - 8);
    }
    case DType::kQ4_1: {
      const int q = k < 16 ? (b[4 + k] & 15) : (b[4 + k - 16] >> 4);
      return HalfAt(b) * static_cast<float>(q) + HalfAt(b + 2);
    }
    case DType::kQ5_0: {
      const int q = (k < 16 ? (b[6 + k] & 15) : (b[6 + k - 16] >> 4)) + 16 * Bit(b + 2, k);
      return HalfAt(b) * static_cast<float>(q - 16);
    }
    case DType::kQ5_1: {
      const int q = (k < 16 ? (b[8 + k] & 15) : (b[8 + k - 16] >> 4)) + 16 * Bit(b + 4, k);
      return HalfAt(b) * static_cast<float>(q) + HalfAt(b + 2);
    }
    case DType::kQ8_0:
      return HalfAt(b) * static_cast<float>(static_cast<int8_t>(b[2 + k]));
    case DType::kQ2_K: {
      // scales[16] | qs[64] | d | dmin; value k: byte 32 (k / 128) + k % 32,
      // bit pair (k % 128) / 32.
      const int q = (b[16 + 32 * (k / 128) + k % 32] >> (2 * ((k % 128) / 32))) & 3;
      const int sc = b[k / 16];
      return HalfAt(b + 80) * static_cast<float>(sc & 15) * static_cast<float>(q) -
             HalfAt(b + 82) * static_cast<float>(sc >> 4);
    }
    case DType::kQ3_K: {
      // hmask[32] | qs[64] | scales[12] | d; hmask bit k / 32 of byte k % 32.
      const int low = (b[32 + 32 * (k / 128) + k % 32] >> (2 * ((k % 128) / 32))) & 3;
      const int q = low - (((b[k % 32] >> (k / 32)) & 1) ? 0 : 4);
      const int j = k / 16;
      const uint8_t* s = b + 96;
      // 6-bit scale j: low nibble from byte j % 8 (low half for j < 8), high
      // two bits from byte 8 + j % 4 at bit 2 (j / 4).
      const int low4 = (s[j % 8] >> (4 * (j / 8))) & 15;
      const int high2 = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
      return HalfAt(b + 108) * static_cast<float>((low4 | (high2 << 4)) - 32) *
             static_cast<float>(q);
    }
    case DType::kQ4_K:
    case DType::kQ5_K: {
      const bool q5 = type == DType::kQ5_K;
      const uint8_t* qs = b + (q5 ? 48 : 16);
      const int sub = k / 32;  // 0..7: chunk k / 64, low (even) or high (odd) nibble
      int q = (qs[32 * (k / 64) + k % 32] >> (4 * (sub % 2))) & 15;
      if (q5) q += 16 * ((b[16 + k % 32] >> sub) & 1);
      const uint8_t* s = b + 4;
      int sc, mn;
      if (sub < 4) {
        sc = s[sub] & 63;
        mn = s[sub + 4] & 63;
      } else {
        sc = (s[sub + 4] & 15) | ((s[sub - 4] >> 6) << 4);
        mn = (s[sub + 4] >> 4) | ((s[sub] >> 6) << 4);
      }
      return HalfAt(b) * static_cast<float>(sc) * static_cast<float>(q) -
             HalfAt(b + 2) * static_cast<float>(mn);
    }
    case DType::kQ6_K: {
      // ql[128] | qh[64] | scales[16] | d. Quarter r of a 128-value half: low
      // bits from ql (second 32 bytes for odd r, high nibble for r >= 2),
      // high bits from qh bit pair r.
      const int h = k / 128, r = (k % 128) / 32, l = k % 32;
      const int low = (b[64 * h + 32 * (r % 2) + l] >> (4 * (r / 2))) & 15;
      const int high = (b[128 + 32 * h + l] >> (2 * r)) & 3;
      const int q = (low | (high << 4)) - 32;
      return HalfAt(b + 208) * static_cast<float>(static_cast<int8_t>(b[192 + k / 16])) *
             static_cast<float>(q);
    }
    default:
      ADD_FAILURE() << "no spec decoder for " << Name(type);
      return 0.0f;
  }
}

// Random blocks with sane f16 scales (random bytes there could be inf/NaN).
std::vector<uint8_t> RandomBlocks(DType type, int blocks, std::mt19937& rng) {
  const DTypeInfo& info = Info(type);
  std::vector<uint8_t> data(static_cast<size_t>(blocks) * info.block_bytes);
  for (uint8_t& byte : data) byte = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  for (int i = 0; i < blocks; ++i) {
    uint8_t* b = data.data() + static_cast<size_t>(i) * info.block_bytes;
    switch (type) {
      case DType::kQ4_0:
      case DType::kQ5_0:
      case DType::kQ8_0:
        PutHalf(b, scale(rng));
        break;
      case DType::kQ4_1:
      case DType::kQ5_1:
      case DType::kQ4_K:
      case DType::kQ5_K:
        PutHalf(b, scale(rng));
        PutHalf(b + 2, scale(rng));
        break;
      case DType::kQ2_K:
        PutHalf(b + 80, scale(rng));
        PutHalf(b + 82, scale(rng));
        break;
      case DType::kQ3_K:
        PutHalf(b + 108, scale(rng));
        break;
      case DType::kQ6_K:
        PutHalf(b + 208, scale(rng));
        break;
      default:
        break;
    }
  }
  return data;
}

TEST(QuantRef, BlockStructsMatchTypeTable) {
  EXPECT_EQ(sizeof(BlockQ4_0), static_cast<size_t>(Info(DType::kQ4_0).block_bytes));
  EXPECT_EQ(sizeof(BlockQ4_1), static_cast<size_t>(Info(DType::kQ4_1).block_bytes));
  EXPECT_EQ(sizeof(BlockQ5_0), static_cast<size_t>(Info(DType::kQ5_0).block_bytes));
  EXPECT_EQ(sizeof(BlockQ5_1), static_cast<size_t>(Info(DType::kQ5_1).block_bytes));
  EXPECT_EQ(sizeof(BlockQ8_0), static_cast<size_t>(Info(DType::kQ8_0).block_bytes));
  EXPECT_EQ(sizeof(BlockQ2_K), static_cast<size_t>(Info(DType::kQ2_K).block_bytes));
  EXPECT_EQ(sizeof(BlockQ3_K), static_cast<size_t>(Info(DType::kQ3_K).block_bytes));
  EXPECT_EQ(sizeof(BlockQ4_K), static_cast<size_t>(Info(DType::kQ4_K).block_bytes));
  EXPECT_EQ(sizeof(BlockQ5_K), static_cast<size_t>(Info(DType::kQ5_K).block_bytes));
  EXPECT_EQ(sizeof(BlockQ6_K), static_cast<size_t>(Info(DType::kQ6_K).block_bytes));
  for (DType t : kAllTypes) EXPECT_TRUE(DequantizeSupports(t)) << Name(t);
  EXPECT_FALSE(DequantizeSupports(DType::kQ8_K));
  EXPECT_FALSE(QuantizeSupports(DType::kQ2_K));
}

TEST(QuantRef, NearestIntRoundsHalfToEven) {
  EXPECT_EQ(NearestInt(2.5f), 2);
  EXPECT_EQ(NearestInt(3.5f), 4);
  EXPECT_EQ(NearestInt(-2.5f), -2);
  EXPECT_EQ(NearestInt(-3.5f), -4);
  EXPECT_EQ(NearestInt(0.49999997f), 0);
  EXPECT_EQ(NearestInt(-31.7f), -32);
  EXPECT_EQ(NearestInt(4194303.0f), 4194303);
}

// DequantizeRowRef (the spec's loop nests) against SpecValue (per position):
// both are exact f32 arithmetic in the same order, so they must agree bitwise.
TEST(QuantRef, DequantizeMatchesPerPositionDecoder) {
  std::mt19937 rng(1234);
  for (DType type : kAllTypes) {
    const DTypeInfo& info = Info(type);
    if (info.block_elems == 1) continue;
    const int blocks = 8;
    const std::vector<uint8_t> data = RandomBlocks(type, blocks, rng);
    std::vector<float> out(static_cast<size_t>(blocks) * info.block_elems);
    DequantizeRowRef(type, data.data(), out.data(), static_cast<int64_t>(out.size()));
    int mismatches = 0;
    for (int b = 0; b < blocks; ++b) {
      for (int k = 0; k < info.block_elems; ++k) {
        const float want =
            SpecValue(type, data.data() + static_cast<size_t>(b) * info.block_bytes, k);
        const float got = out[static_cast<size_t>(b) * info.block_elems + k];
        if (want != got && mismatches++ < 5) {
          ADD_FAILURE() << Name(type) << " block " << b << " value " << k << ": " << got
                        << " != " << want;
        }
      }
    }
    EXPECT_EQ(mismatches, 0) << Name(type);
  }
}

TEST(QuantRef, FloatTypesDequantizeExactly) {
  const float values[] = {0.0f,     -0.0f,          1.0f,           -2.5f,
                          65504.0f, 6.1035156e-05f, 5.9604645e-08f, 3.0e38f};
  for (float v : values) {
    uint8_t bytes[4];
    QuantizeRowRef(DType::kF32, &v, bytes, 1);
    float back;
    DequantizeRowRef(DType::kF32, bytes, &back, 1);
    EXPECT_EQ(std::memcmp(&back, &v, 4), 0);
    if (std::fabs(v) <= 65504.0f) {  // representable in f16 (incl. subnormals)
      QuantizeRowRef(DType::kF16, &v, bytes, 1);
      DequantizeRowRef(DType::kF16, bytes, &back, 1);
      EXPECT_EQ(back, v);
    }
    QuantizeRowRef(DType::kBF16, &v, bytes, 1);
    DequantizeRowRef(DType::kBF16, bytes, &back, 1);
    // bf16 keeps 8 significant bits: exact for all but 65504 (11) and 3e38,
    // which round to nearest (relative error <= 2^-9).
    if (v == 65504.0f || v == 3.0e38f) {
      EXPECT_NE(back, v);
      EXPECT_LE(std::fabs(back - v), std::fabs(v) / 512) << v;
    } else {
      EXPECT_EQ(back, v) << v;
    }
  }
}

TEST(QuantRef, RejectsBadInput) {
  float x[32] = {};
  uint8_t buf[64];
  EXPECT_THROW(QuantizeRowRef(DType::kQ8_0, x, buf, 31), Error);
  EXPECT_THROW(DequantizeRowRef(DType::kQ4_K, buf, x, 32), Error);
  EXPECT_THROW(QuantizeRowRef(DType::kQ2_K, x, buf, 32), Error);
  EXPECT_THROW(DequantizeRowRef(DType::kQ8_K, buf, x, 256), Error);
}

// An all-zero row round-trips to zeros through every type.
TEST(QuantRef, ZerosStayZero) {
  std::vector<float> x(512, 0.0f), y(512, 1.0f);
  for (DType type : kAllTypes) {
    if (!QuantizeSupports(type)) continue;
    std::vector<uint8_t> q(BytesFor(type, 512));
    QuantizeRowRef(type, x.data(), q.data(), 512);
    DequantizeRowRef(type, q.data(), y.data(), 512);
    for (float v : y) ASSERT_EQ(v, 0.0f) << Name(type);
  }
}

// Values already on a type's grid come back exactly: Q8_0 with d = 2^-6 and
// an extreme of +-127 d (so amax / 127 = d exactly); Q4_0 with -8 d present.
TEST(QuantRef, GridValuesRoundTripExactly) {
  std::mt19937 rng(7);
  const float d = 1.0f / 64;
  std::vector<float> x(64), y(64);
  std::vector<uint8_t> q(BytesFor(DType::kQ8_0, 64));
  for (int i = 0; i < 64; ++i) x[i] = d * static_cast<float>(static_cast<int>(rng() % 255) - 127);
  x[3] = 127 * d;
  x[40] = -127 * d;
  QuantizeRowRef(DType::kQ8_0, x.data(), q.data(), 64);
  DequantizeRowRef(DType::kQ8_0, q.data(), y.data(), 64);
  EXPECT_EQ(x, y);
  for (int i = 0; i < 64; ++i) x[i] = d * static_cast<float>(static_cast<int>(rng() % 16) - 8);
  x[5] = -8 * d;
  x[37] = -8 * d;
  q.resize(BytesFor(DType::kQ4_0, 64));
  QuantizeRowRef(DType::kQ4_0, x.data(), q.data(), 64);
  DequantizeRowRef(DType::kQ4_0, q.data(), y.data(), 64);
  EXPECT_EQ(x, y);
}

struct RoundTripStats {
  double rms_err = 0, rms_x = 0;
  double max_excess = 0;  // max over elements of |err| / bound (legacy types)
};

// Per-element error bound of the legacy block types, from the block's own
// stored scale d (f16) and min m: the rounding error is at most half a step
// (a full step for Q4_0/Q5_0's one clamped level on the far side), plus the
// f16 rounding of d (relative 2^-11) times the largest level, plus that of m;
// 1e-6 relative covers the f32 arithmetic.
double LegacyBound(DType type, const uint8_t* block) {
  const double d = std::fabs(HalfAt(block));
  const double f16 = 1.0 / 2048;
  switch (type) {
    case DType::kQ8_0:
      return d * (0.5 + 127 * f16) * (1 + 2 * f16) + 1e-12;
    case DType::kQ4_0:
      return d * (1.0 + 8 * f16) * (1 + 2 * f16) + 1e-12;
    case DType::kQ5_0:
      return d * (1.0 + 16 * f16) * (1 + 2 * f16) + 1e-12;
    case DType::kQ4_1:
      return d * (0.5 + 15 * f16) * (1 + 2 * f16) + std::fabs(HalfAt(block + 2)) * f16 + 1e-12;
    case DType::kQ5_1:
      return d * (0.5 + 31 * f16) * (1 + 2 * f16) + std::fabs(HalfAt(block + 2)) * f16 + 1e-12;
    default:
      return 0;
  }
}

RoundTripStats RoundTrip(DType type, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(BytesFor(type, n));
  std::vector<float> y(x.size());
  QuantizeRowRef(type, x.data(), q.data(), n);
  DequantizeRowRef(type, q.data(), y.data(), n);
  const DTypeInfo& info = Info(type);
  RoundTripStats s;
  for (int64_t i = 0; i < n; ++i) {
    const double err = static_cast<double>(y[i]) - x[i];
    s.rms_err += err * err;
    s.rms_x += static_cast<double>(x[i]) * x[i];
    const double bound =
        LegacyBound(type, q.data() + static_cast<size_t>(i / info.block_elems) * info.block_bytes);
    if (bound > 0) s.max_excess = std::max(s.max_excess, std::fabs(err) / bound);
  }
  s.rms_err = std::sqrt(s.rms_err / static_cast<double>(n));
  s.rms_x = std::sqrt(s.rms_x / static_cast<double>(n));
  return s;
}

// Gaussian rows (and a shifted copy, which exercises the mins). Two-sided
// ranges on the relative RMS error: below the upper limit means the values
// land where they should; above the lower limit means the type really
// quantizes to its bit width (a broken packer that, say, kept only the
// scale would fail the upper one, one that stored more bits the lower one).
// For uniform rounding error the RMS is step / sqrt(12): e.g. Q8_0's step is
// amax / 127 with E[amax] ~ 2.07 sigma over 32 Gaussian values, giving 4.7e-3
// (measured 5.4e-3); Q4_0's amax / 8 gives 7.5e-2 (measured 8.6e-2). The
// ranges sit around the measured values (comments) with ~30% slack each side.
TEST(QuantRef, RoundTripErrorRanges) {
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(1 << 14), shifted(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = normal(rng);
    shifted[i] = x[i] + 3.0f;
  }
  struct Range {
    DType type;
    double lo, hi;  // relative RMS error of the zero-mean rows
  };
  const Range ranges[] = {
      {DType::kF16, 1.4e-4, 2.8e-4},    // measured 2.07e-4
      {DType::kBF16, 1.2e-3, 2.3e-3},   // measured 1.67e-3
      {DType::kQ8_0, 3.8e-3, 7.2e-3},   // measured 5.36e-3
      {DType::kQ6_K, 1.2e-2, 2.4e-2},   // measured 1.76e-2
      {DType::kQ5_K, 2.5e-2, 4.9e-2},   // measured 3.61e-2
      {DType::kQ5_1, 2.7e-2, 5.1e-2},   // measured 3.81e-2
      {DType::kQ5_0, 3.0e-2, 5.8e-2},   // measured 4.26e-2
      {DType::kQ4_K, 5.0e-2, 9.6e-2},   // measured 7.12e-2
      {DType::kQ4_1, 5.4e-2, 1.05e-1},  // measured 7.78e-2
      {DType::kQ4_0, 6.0e-2, 1.16e-1},  // measured 8.58e-2
  };
  // The order above is also the expected order of precision.
  double previous = 0;
  for (const Range& r : ranges) {
    const RoundTripStats s = RoundTrip(r.type, x);
    const double rel = s.rms_err / s.rms_x;
    std::printf("round trip %-5s rel rms %.3g\n", std::string(Name(r.type)).c_str(), rel);
    EXPECT_GE(rel, r.lo) << Name(r.type);
    EXPECT_LE(rel, r.hi) << Name(r.type);
    EXPECT_GT(rel, previous) << Name(r.type);
    previous = rel;
    // Legacy types: every element within its block's bound.
    EXPECT_LE(s.max_excess, 1.0) << Name(r.type);
    const RoundTripStats sh = RoundTrip(r.type, shifted);
    EXPECT_LE(sh.max_excess, 1.0) << Name(r.type) << " shifted";
    // Types with a min (or a per-value exponent) keep their precision when
    // the data is shifted; symmetric types lose some, but stay below 3x.
    EXPECT_LE(sh.rms_err, 3.0 * s.rms_err + 1e-3) << Name(r.type) << " shifted";
  }
  EXPECT_EQ(RoundTrip(DType::kF32, x).rms_err, 0.0);
}

}  // namespace
}  // namespace gemma
