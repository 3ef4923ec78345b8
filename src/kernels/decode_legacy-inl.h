// Per-target decoders for ggml's legacy 32-value blocks (Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0; layouts in quant/blocks.h). Each Block() widens the packed
// integers to i32 lanes, converts, and applies the block's scale (and min) in
// f32, calling sink(offset, weights) per vector. Lanes(d) <= 16, so a vector
// never straddles the low-nibble / high-nibble halves of a block.

#include <cstdint>

#include "hwy/highway.h"
#include "kernels/decode_common-inl.h"
#include "quant/blocks.h"

#if defined(GEMMA_KERNELS_DECODE_LEGACY_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef GEMMA_KERNELS_DECODE_LEGACY_INL_H_
#undef GEMMA_KERNELS_DECODE_LEGACY_INL_H_
#else
#define GEMMA_KERNELS_DECODE_LEGACY_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace gemma {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Lane k holds bit k: selects the Q5 fifth bit of value k from the 32-bit qh.
alignas(64) inline constexpr int32_t kLaneBit[32] = {
    1 << 0,  1 << 1,  1 << 2,  1 << 3,  1 << 4,  1 << 5,  1 << 6,  1 << 7,
    1 << 8,  1 << 9,  1 << 10, 1 << 11, 1 << 12, 1 << 13, 1 << 14, 1 << 15,
    1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20, 1 << 21, 1 << 22, 1 << 23,
    1 << 24, 1 << 25, 1 << 26, 1 << 27, 1 << 28, 1 << 29, 1 << 30, INT32_MIN};

// Common shape of the legacy decoders: fixed block size, no scalar tail.
template <class Block, size_t kBytes>
struct LegacyDecoder {
  static_assert(sizeof(Block) == kBytes);
  template <class D>
  static HWY_INLINE size_t BlockElems(D) {
    return kQK;
  }
  template <class D>
  static HWY_INLINE size_t BlockBytes(D) {
    return kBytes;
  }
  // Rows are whole blocks, so there is never a tail.
  static HWY_INLINE float Scalar(const uint8_t*, int64_t) { return 0.0f; }
};

// Q8_0, Q4_0 and Q5_0 have one multiplicative scale per block: Block() is
// the integer levels (Levels) times d.
template <class Derived>
struct ScaledBlock {
  static HWY_INLINE float BlockScale(const uint8_t* p) { return HalfAt(p); }  // d comes first
  template <class D, class Sink>
  static HWY_INLINE void Block(D d, const uint8_t* HWY_RESTRICT p, Sink&& sink) {
    const auto scale = hn::Set(d, BlockScale(p));
    Derived::Levels(d, p, [&](size_t off, auto q) HWY_ATTR { sink(off, hn::Mul(q, scale)); });
  }
};

struct DecQ8_0 : LegacyDecoder<BlockQ8_0, 34>, ScaledBlock<DecQ8_0> {
  template <class D, class Sink>
  static HWY_INLINE void Levels(D d, const uint8_t* HWY_RESTRICT p, Sink&& sink) {
    const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(p);
    const size_t N = hn::Lanes(d);
    for (size_t j = 0; j < static_cast<size_t>(kQK); j += N) {
      sink(j, hn::ConvertTo(d, WidenI8(d, b->qs + j)));
    }
  }
};

struct DecQ4_0 : LegacyDecoder<BlockQ4_0, 18>, ScaledBlock<DecQ4_0> {
  template <class D, class Sink>
  static HWY_INLINE void Levels(D d, const uint8_t* HWY_RESTRICT p, Sink&& sink) {
    const BlockQ4_0* b = reinterpret_cast<const BlockQ4_0*>(p);
    const hn::RebindToSigned<D> di;
    const auto k8 = hn::Set(di, 8);
    const size_t N = hn::Lanes(d);
    for (size_t j = 0; j < 16; j += N) {
      const auto q = WidenU8(d, b->qs + j);
      sink(j, hn::ConvertTo(d, hn::Sub(hn::And(q, hn::Set(di, 0xF)), k8)));
      sink(16 + j, hn::ConvertTo(d, hn::Sub(hn::ShiftRight<4>(q), k8)));
    }
  }
};

struct DecQ4_1 : LegacyDecoder<BlockQ4_1, 20> {
  template <class D, class Sink>
  static HWY_INLINE void Block(D d, const uint8_t* HWY_RESTRICT p, Sink&& sink) {
    const BlockQ4_1* b = reinterpret_cast<const BlockQ4_1*>(p);
    const hn::RebindToSigned<D> di;
    const auto scale = hn::Set(d, HalfAt(b->d.b));
    const auto min = hn::Set(d, HalfAt(b->m.b));
    const size_t N = hn::Lanes(d);
    for (size_t j = 0; j < 16; j += N) {
      const auto q = WidenU8(d, b->qs + j);
      sink(j, hn::MulAdd(hn::ConvertTo(d, hn::And(q, hn::Set(di, 0xF))), scale, min));
      sink(16 + j, hn::MulAdd(hn::ConvertTo(d, hn::ShiftRight<4>(q)), scale, min));
    }
  }
};

// The 5-bit values of lanes [j, j + N) and [16 + j, 16 + j + N) of a Q5 block.
template <class D, class Fn>
HWY_INLINE void ForEachQ5(D d, const uint8_t* HWY_RESTRICT qs, const uint8_t* qh_bytes, Fn&& fn) {
  const hn::RebindToSigned<D> di;
  const auto qh = hn::Set(di, static_cast<int32_t>(LoadLE32(qh_bytes)));
  const auto k16 = hn::Set(di, 16);
  const size_t N = hn::Lanes(d);
  for (size_t j = 0; j < 16; j += N) {
    const auto q = WidenU8(d, qs + j);
    const auto h_lo = hn::IfThenElseZero(hn::TestBit(qh, hn::LoadU(di, kLaneBit + j)), k16);
    const auto h_hi = hn::IfThenElseZero(hn::TestBit(qh, hn::LoadU(di, kLaneBit + 16 + j)), k16);
    fn(j, hn::Or(hn::And(q, hn::Set(di, 0xF)), h_lo), hn::Or(hn::ShiftRight<4>(q), h_hi));
  }
}

struct DecQ5_0 : LegacyDecoder<BlockQ5_0, 22>, ScaledBlock<DecQ5_0> {
  template <class D, class Sink>
  static HWY_INLINE void Levels(D d, const uint8_t* HWY_RESTRICT p, Sink&& sink) {
    const BlockQ5_0* b = reinterpret_cast<const BlockQ5_0*>(p);
    const hn::RebindToSigned<D> di;
    const auto k16 = hn::Set(di, 16);
    ForEachQ5(d, b->qs, b->qh, [&](size_t j, auto lo, auto hi) HWY_ATTR {
      sink(j, hn::ConvertTo(d, hn::Sub(lo, k16)));
      sink(16 + j, hn::ConvertTo(d, hn::Sub(hi, k16)));
    });
  }
};

struct DecQ5_1 : LegacyDecoder<BlockQ5_1, 24> {
  template <class D, class Sink>
  static HWY_INLINE void Block(D d, const uint8_t* HWY_RESTRICT p, Sink&& sink) {
    const BlockQ5_1* b = reinterpret_cast<const BlockQ5_1*>(p);
    const auto scale = hn::Set(d, HalfAt(b->d.b));
    const auto min = hn::Set(d, HalfAt(b->m.b));
    ForEachQ5(d, b->qs, b->qh, [&](size_t j, auto lo, auto hi) HWY_ATTR {
      sink(j, hn::MulAdd(hn::ConvertTo(d, lo), scale, min));
      sink(16 + j, hn::MulAdd(hn::ConvertTo(d, hi), scale, min));
    });
  }
};

}  // namespace HWY_NAMESPACE
}  // namespace gemma
HWY_AFTER_NAMESPACE();

#endif  // GEMMA_KERNELS_DECODE_LEGACY_INL_H_ toggle
