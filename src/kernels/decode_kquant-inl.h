// Per-target decoders for ggml's K-quant super-blocks (Q2_K .. Q6_K; layouts in
// quant/blocks.h, formulas in shared spec weight-formats.md C.3). The 6/8-bit
// sub-block scales are unpacked with scalar code once per super-block; the
// packed 2..6-bit values are widened to i32 lanes Lanes(d) at a time, so a
// vector always lies inside one 16-value scale group (Lanes(d) <= 16).

#include <cstdint>

#include "hwy/highway.h"
#include "kernels/decode_common-inl.h"
#include "quant/blocks.h"

#if defined(GEMMA_KERNELS_DECODE_KQUANT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef GEMMA_KERNELS_DECODE_KQUANT_INL_H_
#undef GEMMA_KERNELS_DECODE_KQUANT_INL_H_
#else
#define GEMMA_KERNELS_DECODE_KQUANT_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace gemma {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class Block, size_t kBytes>
struct KDecoder {
  static_assert(sizeof(Block) == kBytes);
  template <class D>
  static HWY_INLINE size_t BlockElems(D) {
    return kQK_K;
  }
  template <class D>
  static HWY_INLINE size_t BlockBytes(D) {
    return kBytes;
  }
  static HWY_INLINE float Scalar(const uint8_t*, int64_t) { return 0.0f; }
};

struct DecQ2_K : KDecoder<BlockQ2_K, 84> {
  template <class D, class Sink>
  static HWY_INLINE void Block(D d, const uint8_t* HWY_RESTRICT p, Sink&& sink) {
    const BlockQ2_K* b = reinterpret_cast<const BlockQ2_K*>(p);
    const hn::RebindToSigned<D> di;
    const float dall = HalfAt(b->d.b);
    const float dmin = HalfAt(b->dmin.b);
    const auto k3 = hn::Set(di, 3);
    const size_t N = hn::Lanes(d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* qs = b->qs + 32 * h;
      for (int j = 0; j < 4; ++j) {
        const int sc1 = b->scales[8 * h + 2 * j], sc2 = b->scales[8 * h + 2 * j + 1];
        const auto d1 = hn::Set(d, dall * static_cast<float>(sc1 & 0xF));
        const auto m1 = hn::Set(d, dmin * static_cast<float>(sc1 >> 4));
        const auto d2 = hn::Set(d, dall * static_cast<float>(sc2 & 0xF));
        const auto m2 = hn::Set(d, dmin * static_cast<float>(sc2 >> 4));
        const size_t base = static_cast<size_t>(128 * h + 32 * j);
        for (size_t l = 0; l < 16; l += N) {
          const auto q1 = hn::And(hn::ShiftRightSame(WidenU8(d, qs + l), 2 * j), k3);
          const auto q2 = hn::And(hn::ShiftRightSame(WidenU8(d, qs + 16 + l), 2 * j), k3);
          sink(base + l, hn::MulSub(hn::ConvertTo(d, q1), d1, m1));
          sink(base + 16 + l, hn::MulSub(hn::ConvertTo(d, q2), d2, m2));
        }
      }
    }
  }
};

struct DecQ3_K : KDecoder<BlockQ3_K, 110> {
  template <class D, class Sink>
  static HWY_INLINE void Block(D d, const uint8_t* HWY_RESTRICT p, Sink&& sink) {
    const BlockQ3_K* b = reinterpret_cast<const BlockQ3_K*>(p);
    const hn::RebindToSigned<D> di;
    const float dall = HalfAt(b->d.b);
    int scales[16];
    UnpackScalesQ3K(b->scales, scales);
    const auto k1 = hn::Set(di, 1);
    const auto k3 = hn::Set(di, 3);
    const auto k4 = hn::Set(di, 4);
    const size_t N = hn::Lanes(d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* qs = b->qs + 32 * h;
      for (int j = 0; j < 4; ++j) {
        const auto d1 = hn::Set(d, dall * static_cast<float>(scales[8 * h + 2 * j]));
        const auto d2 = hn::Set(d, dall * static_cast<float>(scales[8 * h + 2 * j + 1]));
        const int hbit = 4 * h + j;
        const size_t base = static_cast<size_t>(128 * h + 32 * j);
        for (size_t l = 0; l < 16; l += N) {
          // value = low 2 bits - 4, plus 4 back when the hmask bit is set.
          const auto h1 = hn::And(hn::ShiftRightSame(WidenU8(d, b->hmask + l), hbit), k1);
          const auto h2 = hn::And(hn::ShiftRightSame(WidenU8(d, b->hmask + 16 + l), hbit), k1);
          const auto q1 = hn::And(hn::ShiftRightSame(WidenU8(d, qs + l), 2 * j), k3);
          const auto q2 = hn::And(hn::ShiftRightSame(WidenU8(d, qs + 16 + l), 2 * j), k3);
          const auto v1 = hn::Sub(hn::Add(q1, hn::ShiftLeft<2>(h1)), k4);
          const auto v2 = hn::Sub(hn::Add(q2, hn::ShiftLeft<2>(h2)), k4);
          sink(base + l, hn::Mul(hn::ConvertTo(d, v1), d1));
          sink(base + 16 + l, hn::Mul(hn::ConvertTo(d, v2), d2));
        }
      }
    }
  }
};

// Q4_K / Q5_K share the scale layout: 8 sub-blocks of 32, (scale, min) each.
struct ScalesK4 {
  float d[8], m[8];
  HWY_INLINE ScalesK4(const uint8_t* packed, float dall, float dmin) {
    for (int j = 0; j < 8; ++j) {
      int sc, mn;
      UnpackScaleMinK4(packed, j, &sc, &mn);
      d[j] = dall * static_cast<float>(sc);
      m[j] = dmin * static_cast<float>(mn);
    }
  }
};

struct DecQ4_K : KDecoder<BlockQ4_K, 144> {
  template <class D, class Sink>
  static HWY_INLINE void Block(D d, const uint8_t* HWY_RESTRICT p, Sink&& sink) {
    const BlockQ4_K* b = reinterpret_cast<const BlockQ4_K*>(p);
    const hn::RebindToSigned<D> di;
    const ScalesK4 s(b->scales, HalfAt(b->d.b), HalfAt(b->dmin.b));
    const auto k15 = hn::Set(di, 0xF);
    const size_t N = hn::Lanes(d);
    for (int c = 0; c < 4; ++c) {
      const auto d1 = hn::Set(d, s.d[2 * c]), m1 = hn::Set(d, s.m[2 * c]);
      const auto d2 = hn::Set(d, s.d[2 * c + 1]), m2 = hn::Set(d, s.m[2 * c + 1]);
      const uint8_t* qs = b->qs + 32 * c;
      const size_t base = static_cast<size_t>(64 * c);
      for (size_t l = 0; l < 32; l += N) {
        const auto q = WidenU8(d, qs + l);
        sink(base + l, hn::MulSub(hn::ConvertTo(d, hn::And(q, k15)), d1, m1));
        sink(base + 32 + l, hn::MulSub(hn::ConvertTo(d, hn::ShiftRight<4>(q)), d2, m2));
      }
    }
  }
};

struct DecQ5_K : KDecoder<BlockQ5_K, 176> {
  template <class D, class Sink>
  static HWY_INLINE void Block(D d, const uint8_t* HWY_RESTRICT p, Sink&& sink) {
    const BlockQ5_K* b = reinterpret_cast<const BlockQ5_K*>(p);
    const hn::RebindToSigned<D> di;
    const ScalesK4 s(b->scales, HalfAt(b->d.b), HalfAt(b->dmin.b));
    const auto k1 = hn::Set(di, 1);
    const auto k15 = hn::Set(di, 0xF);
    const size_t N = hn::Lanes(d);
    for (int c = 0; c < 4; ++c) {
      const auto d1 = hn::Set(d, s.d[2 * c]), m1 = hn::Set(d, s.m[2 * c]);
      const auto d2 = hn::Set(d, s.d[2 * c + 1]), m2 = hn::Set(d, s.m[2 * c + 1]);
      const uint8_t* qs = b->qs + 32 * c;
      const size_t base = static_cast<size_t>(64 * c);
      for (size_t l = 0; l < 32; l += N) {
        const auto q = WidenU8(d, qs + l);
        const auto qh = WidenU8(d, b->qh + l);
        // Fifth bits: bit 2c for the low nibbles, bit 2c + 1 for the high ones.
        const auto h1 = hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(qh, 2 * c), k1));
        const auto h2 = hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(qh, 2 * c + 1), k1));
        sink(base + l, hn::MulSub(hn::ConvertTo(d, hn::Or(hn::And(q, k15), h1)), d1, m1));
        sink(base + 32 + l, hn::MulSub(hn::ConvertTo(d, hn::Or(hn::ShiftRight<4>(q), h2)), d2, m2));
      }
    }
  }
};

struct DecQ6_K : KDecoder<BlockQ6_K, 210> {
  template <class D, class Sink>
  static HWY_INLINE void Block(D d, const uint8_t* HWY_RESTRICT p, Sink&& sink) {
    const BlockQ6_K* b = reinterpret_cast<const BlockQ6_K*>(p);
    const hn::RebindToSigned<D> di;
    const float dall = HalfAt(b->d.b);
    const auto k3 = hn::Set(di, 3);
    const auto k15 = hn::Set(di, 0xF);
    const auto k32 = hn::Set(di, 32);
    const size_t N = hn::Lanes(d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b->ql + 64 * h;
      const uint8_t* qh = b->qh + 32 * h;
      const int8_t* sc = b->scales + 8 * h;
      const size_t base = static_cast<size_t>(128 * h);
      for (size_t l = 0; l < 32; l += N) {
        const int is = static_cast<int>(l / 16);
        const auto a = WidenU8(d, ql + l);
        const auto c = WidenU8(d, ql + 32 + l);
        const auto hb = WidenU8(d, qh + l);
        const auto q1 = hn::Or(hn::And(a, k15), hn::ShiftLeft<4>(hn::And(hb, k3)));
        const auto q2 =
            hn::Or(hn::And(c, k15), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<2>(hb), k3)));
        const auto q3 =
            hn::Or(hn::ShiftRight<4>(a), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<4>(hb), k3)));
        const auto q4 = hn::Or(hn::ShiftRight<4>(c), hn::ShiftLeft<4>(hn::ShiftRight<6>(hb)));
        sink(base + l, hn::Mul(hn::ConvertTo(d, hn::Sub(q1, k32)),
                               hn::Set(d, dall * static_cast<float>(sc[is]))));
        sink(base + 32 + l, hn::Mul(hn::ConvertTo(d, hn::Sub(q2, k32)),
                                    hn::Set(d, dall * static_cast<float>(sc[is + 2]))));
        sink(base + 64 + l, hn::Mul(hn::ConvertTo(d, hn::Sub(q3, k32)),
                                    hn::Set(d, dall * static_cast<float>(sc[is + 4]))));
        sink(base + 96 + l, hn::Mul(hn::ConvertTo(d, hn::Sub(q4, k32)),
                                    hn::Set(d, dall * static_cast<float>(sc[is + 6]))));
      }
    }
  }
};

}  // namespace HWY_NAMESPACE
}  // namespace gemma
HWY_AFTER_NAMESPACE();

#endif  // GEMMA_KERNELS_DECODE_KQUANT_INL_H_ toggle
