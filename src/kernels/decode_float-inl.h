// Per-target decoders for the plain float weight types (F32, F16, BF16). A
// "block" is one vector of lanes; the row's remainder (cols not a multiple of
// the lane count) goes through Scalar(). See matmul-inl.h for the protocol.

#include <cstdint>
#include <cstring>

#include "base/half.h"
#include "hwy/highway.h"
#include "kernels/decode_common-inl.h"

#if defined(GEMMA_KERNELS_DECODE_FLOAT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef GEMMA_KERNELS_DECODE_FLOAT_INL_H_
#undef GEMMA_KERNELS_DECODE_FLOAT_INL_H_
#else
#define GEMMA_KERNELS_DECODE_FLOAT_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace gemma {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

struct DecF32 {
  template <class D>
  static HWY_INLINE size_t BlockElems(D d) {
    return hn::Lanes(d);
  }
  template <class D>
  static HWY_INLINE size_t BlockBytes(D d) {
    return hn::Lanes(d) * sizeof(float);
  }
  template <class D, class Sink>
  static HWY_INLINE void Block(D d, const uint8_t* HWY_RESTRICT p, Sink&& sink) {
    sink(0, hn::LoadU(d, reinterpret_cast<const float*>(p)));
  }
  static HWY_INLINE float Scalar(const uint8_t* row, int64_t k) {
    float f;
    std::memcpy(&f, row + 4 * k, sizeof(f));
    return f;
  }
};

struct DecBF16 {
  template <class D>
  static HWY_INLINE size_t BlockElems(D d) {
    return hn::Lanes(d);
  }
  template <class D>
  static HWY_INLINE size_t BlockBytes(D d) {
    return hn::Lanes(d) * 2;
  }
  template <class D, class Sink>
  static HWY_INLINE void Block(D d, const uint8_t* HWY_RESTRICT p, Sink&& sink) {
    // bf16 -> f32 is a 16-bit shift into the high half; done in u32 lanes.
    const hn::Rebind<uint16_t, D> d16;
    const hn::Rebind<uint32_t, D> d32;
    const auto wide = hn::PromoteTo(d32, hn::LoadU(d16, reinterpret_cast<const uint16_t*>(p)));
    sink(0, hn::BitCast(d, hn::ShiftLeft<16>(wide)));
  }
  static HWY_INLINE float Scalar(const uint8_t* row, int64_t k) {
    return Bf16ToF32(LoadLE16(row + 2 * k));
  }
};

struct DecF16 {
  template <class D>
  static HWY_INLINE size_t BlockElems(D d) {
    return hn::Lanes(d);
  }
  template <class D>
  static HWY_INLINE size_t BlockBytes(D d) {
    return hn::Lanes(d) * 2;
  }
  template <class D, class Sink>
  static HWY_INLINE void Block(D d, const uint8_t* HWY_RESTRICT p, Sink&& sink) {
    // F16C's vcvtph2ps on AVX2 and up; Highway emulates it on older targets.
    const hn::Rebind<hwy::float16_t, D> dh;
    sink(0, hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p))));
  }
  static HWY_INLINE float Scalar(const uint8_t* row, int64_t k) {
    return F16ToF32(LoadLE16(row + 2 * k));
  }
};

}  // namespace HWY_NAMESPACE
}  // namespace gemma
HWY_AFTER_NAMESPACE();

#endif  // GEMMA_KERNELS_DECODE_FLOAT_INL_H_ toggle
