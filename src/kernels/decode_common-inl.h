// Per-target helpers shared by the weight decoders (decode_*-inl.h).

#include <cstdint>
#include <cstring>

#include "hwy/highway.h"

#if defined(GEMMA_KERNELS_DECODE_COMMON_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef GEMMA_KERNELS_DECODE_COMMON_INL_H_
#undef GEMMA_KERNELS_DECODE_COMMON_INL_H_
#else
#define GEMMA_KERNELS_DECODE_COMMON_INL_H_
#endif

HWY_BEFORE_NAMESPACE();
namespace gemma {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

inline uint16_t LoadLE16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline uint32_t LoadLE32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// The f16 at p as f32. One lane through Highway's PromoteTo: F16C's
// vcvtph2ps where the target has it, instead of the branchy scalar decode,
// since this runs once per block in the matvec inner loop.
HWY_INLINE float HalfAt(const uint8_t* p) {
  const hn::CappedTag<float, 1> d1;
  const hn::Rebind<hwy::float16_t, decltype(d1)> dh1;
  return hn::GetLane(hn::PromoteTo(d1, hn::LoadU(dh1, reinterpret_cast<const hwy::float16_t*>(p))));
}

// Lanes(d) unsigned bytes at p, zero-extended to i32 lanes.
template <class D>
HWY_INLINE hn::Vec<hn::RebindToSigned<D>> WidenU8(D /* d */, const uint8_t* HWY_RESTRICT p) {
  const hn::RebindToSigned<D> di;
  const hn::Rebind<uint8_t, D> d8;
  return hn::PromoteTo(di, hn::LoadU(d8, p));
}

// Lanes(d) signed bytes at p, sign-extended to i32 lanes.
template <class D>
HWY_INLINE hn::Vec<hn::RebindToSigned<D>> WidenI8(D /* d */, const int8_t* HWY_RESTRICT p) {
  const hn::RebindToSigned<D> di;
  const hn::Rebind<int8_t, D> d8;
  return hn::PromoteTo(di, hn::LoadU(d8, p));
}

}  // namespace HWY_NAMESPACE
}  // namespace gemma
HWY_AFTER_NAMESPACE();

#endif  // GEMMA_KERNELS_DECODE_COMMON_INL_H_ toggle
