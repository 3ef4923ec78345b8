// The packed int8 kernels for AVX2 (laptops and desktops without AVX-512,
// and AVX-512 CPUs without VNNI). Included by matmul_packed.cc inside its
// AVX2 namespace; the driver there runs these kernels. They read the same
// packed layouts as the AVX-512 kernels (pack.cc, docs/kernels.md), one
// 8-row half of each 16-row group (a slice) at a time: every per-row array of
// a group-block holds 16 entries, so slice h reads entries 8h.., and a 64-byte
// step's rows 8h..8h+7 are its bytes 32h..32h+31.
//
// AVX2 has no u8 x s8 dot product into int32: vpmaddubsw multiplies and adds
// pairs into saturating int16, vpmaddwd against ones widens them. Each kernel
// adds as many vpmaddubsw results in int16 as its largest level allows
// without saturating (2 * max_level * 127 per result), then widens once. The
// sums are exact integers, so the results equal the AVX-512 kernels' bit for
// bit (same f32 operations in the same order).

// Half of a 16-row group per vector: row 8h + r of the group in lane r.
struct Rows {
  using Acc = __m256;
  using Mask = __m256i;
  static constexpr int kSlices = 2;
  static constexpr int kRows = 8;
  static HWY_INLINE Mask MaskFor(int64_t valid) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(valid)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static HWY_INLINE Acc Load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static HWY_INLINE void Store(float* p, Mask m, Acc v) { _mm256_maskstore_ps(p, m, v); }
  static HWY_INLINE Acc Zero() { return _mm256_setzero_ps(); }
};

// The 4 activation bytes starting at p, broadcast to every lane.
HWY_INLINE __m256i Broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

HWY_INLINE __m256i Load(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
// 8 f16 values (one slice's scales) widened to f32.
HWY_INLINE __m256 LoadHalves(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
HWY_INLINE __m256i WidenU8(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}
HWY_INLINE __m256i WidenS8(const uint8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// Adds b to the running sum a where the compiler cannot reassociate it: GCC
// otherwise turns a kernel's chains of vpaddw into trees over all products
// of a block, which keeps every product live and spills most of them.
HWY_INLINE __m256i AddInOrder16(__m256i a, __m256i b) {
  __m256i sum = _mm256_add_epi16(a, b);
  asm("" : "+x"(sum));
  return sum;
}
HWY_INLINE __m256i AddInOrder32(__m256i a, __m256i b) {
  __m256i sum = _mm256_add_epi32(a, b);
  asm("" : "+x"(sum));
  return sum;
}

// Per row: the int16 pair sums of 4 levels (u8) times 4 activations (s8).
HWY_INLINE __m256i Products(__m256i levels, __m256i x) { return _mm256_maddubs_epi16(levels, x); }
// The int16 pair sums of each row added into its int32 lane.
HWY_INLINE __m256i Widen(__m256i pairs) { return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)); }

// The shared end of the Q4_0/Q4_1/Q5_0/Q5_1 kernels, as the AVX-512 one:
// lo[s] / hi[s] hold the slice's levels (at most kMaxLevel) of values 4s..
// and 16 + 4s.. of a 32-value block.
template <int NT, bool kMin, int kMaxLevel, class Sum>
HWY_INLINE void NibbleBlockDots(const __m256i* lo, const __m256i* hi, __m256 dw, __m256 mw,
                                const int8_t* const* xq, const float* const* dx,
                                const Sum* const* sx, __m256* acc) {
  // Products per int16 sum: 8 (all of a block) for 4-bit levels, 4 for 5-bit.
  constexpr int kSteps = 2 * kMaxLevel * 127 * 8 <= 32767 ? 4 : 2;
  __m256i a[NT];
  for (int t = 0; t < NT; ++t) {
    if constexpr (kMin) {
      a[t] = _mm256_setzero_si256();
    } else {
      a[t] = _mm256_set1_epi32(sx[t][0]);  // -offset * sum(x)
    }
  }
  for (int s0 = 0; s0 < 4; s0 += kSteps) {
    __m256i p[NT];
    for (int s = s0; s < s0 + kSteps; ++s) {
      for (int t = 0; t < NT; ++t) {
        const __m256i l = Products(lo[s], Broadcast4(xq[t] + 4 * s));
        p[t] = s == s0 ? l : AddInOrder16(p[t], l);
        p[t] = AddInOrder16(p[t], Products(hi[s], Broadcast4(xq[t] + 16 + 4 * s)));
      }
    }
    for (int t = 0; t < NT; ++t) a[t] = _mm256_add_epi32(a[t], Widen(p[t]));
  }
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a[t]), _mm256_mul_ps(dw, _mm256_set1_ps(dx[t][0])),
                             acc[t]);
    if constexpr (kMin) {
      acc[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(sx[t][0]), acc[t]);  // dx * sum(x)
    }
  }
}

// Q4_0 (levels q + 8) and Q4_1 (levels q, and mins).
template <bool kMin>
struct KernelQ4 : Int8Activations<32, kMin ? 1 : -8, kMin ? SumForm::kScaled : SumForm::kInt> {
  static constexpr size_t kGroupBlockBytes = kMin ? 320 : 288;
  static constexpr int kBlockElems = 32;
  static constexpr int kTileTokens = 4;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, int slice, const int8_t* const* xq,
                             const float* const* dx, const typename KernelQ4::Sum* const* sx,
                             __m256* acc) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const uint8_t* steps = p + (kMin ? 64 : 32) + 32 * slice;
    __m256i lo[4], hi[4];
    for (int s = 0; s < 4; ++s) {
      const __m256i l = Load(steps + 64 * s);
      lo[s] = _mm256_and_si256(l, m4);
      hi[s] = _mm256_and_si256(_mm256_srli_epi16(l, 4), m4);
    }
    const __m256 mw = kMin ? LoadHalves(p + 32 + 16 * slice) : _mm256_setzero_ps();
    NibbleBlockDots<NT, kMin, 15>(lo, hi, LoadHalves(p + 16 * slice), mw, xq, dx, sx, acc);
  }
};
using KernelQ4_0 = KernelQ4<false>;
using KernelQ4_1 = KernelQ4<true>;

// Q5_0 (levels q + 16) and Q5_1 (levels q, and mins): bit j of a row's qh
// word is bit 4 of value j. For step s, each byte of a row's lane takes its
// bit from qh byte s / 2 (values 4s..4s + 3) or 2 + s / 2 (16 + 4s..):
// vpshufb copies that byte over the lane, a compare against the byte's own
// bit makes the 0x10.
template <bool kMin>
struct KernelQ5 : Int8Activations<32, kMin ? 1 : -16, kMin ? SumForm::kScaled : SumForm::kInt> {
  static constexpr size_t kGroupBlockBytes = kMin ? 384 : 352;
  static constexpr int kBlockElems = 32;
  static constexpr int kTileTokens = 4;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, int slice, const int8_t* const* xq,
                             const float* const* dx, const typename KernelQ5::Sum* const* sx,
                             __m256* acc) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    const uint8_t* qh_words = p + (kMin ? 64 : 32);
    const __m256i qh = Load(qh_words + 32 * slice);
    // Byte 4r + i of the shuffle index: 4r (row r's qh word within the
    // 128-bit half), plus the qh byte wanted.
    const __m256i rows = _mm256_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12, 0, 0,
                                          0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12);
    __m256i lo[4], hi[4];
    for (int s = 0; s < 4; ++s) {
      const __m256i l = Load(qh_words + 64 + 64 * s + 32 * slice);
      const __m256i bit = _mm256_set1_epi32(static_cast<int>(0x08040201u << (4 * (s % 2))));
      const auto fifth = [&](int byte) {
        const __m256i index = _mm256_add_epi8(rows, _mm256_set1_epi8(static_cast<char>(byte)));
        const __m256i spread = _mm256_shuffle_epi8(qh, index);
        return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), bit4);
      };
      lo[s] = _mm256_or_si256(_mm256_and_si256(l, m4), fifth(s / 2));
      hi[s] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l, 4), m4), fifth(2 + s / 2));
    }
    const __m256 mw = kMin ? LoadHalves(p + 32 + 16 * slice) : _mm256_setzero_ps();
    NibbleBlockDots<NT, kMin, 31>(lo, hi, LoadHalves(p + 16 * slice), mw, xq, dx, sx, acc);
  }
};
using KernelQ5_0 = KernelQ5<false>;
using KernelQ5_1 = KernelQ5<true>;

// Q8_0: the stored levels are q + 128, whose products with x would saturate
// vpmaddubsw's int16 pairs. Flipping the top bit gives q back; |q| (u8) times
// x with q's sign (vpsignb) is q * x with pairs of at most 2 * 128 * 127.
// No offset term, so no activation sums (multiplier 0: none are computed).
struct KernelQ8_0 : Int8Activations<32, 0> {
  static constexpr size_t kGroupBlockBytes = 544;
  static constexpr int kBlockElems = 32;
  static constexpr int kTileTokens = 4;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, int slice, const int8_t* const* xq,
                             const float* const* dx, const int32_t* const*, __m256* acc) {
    const __m256 dw = LoadHalves(p + 16 * slice);
    const __m256i top = _mm256_set1_epi8(static_cast<char>(0x80));
    __m256i a[NT];
    for (int t = 0; t < NT; ++t) a[t] = _mm256_setzero_si256();
    for (int s = 0; s < 8; ++s) {
      const __m256i q = _mm256_xor_si256(Load(p + 32 + 64 * s + 32 * slice), top);
      const __m256i magnitude = _mm256_abs_epi8(q);
      for (int t = 0; t < NT; ++t) {
        const __m256i x = _mm256_sign_epi8(Broadcast4(xq[t] + 4 * s), q);
        a[t] = AddInOrder32(a[t], Widen(Products(magnitude, x)));
      }
    }
    for (int t = 0; t < NT; ++t) {
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a[t]),
                               _mm256_mul_ps(dw, _mm256_set1_ps(dx[t][0])), acc[t]);
    }
  }
};

// Q5_K: the f32 end of one 32-value sub-block j (a[t]: its integer dot
// products), as the AVX-512 kernel.
template <int NT>
HWY_INLINE void SubBlockEnd(const uint8_t* p, int slice, int j, __m256 d, __m256 dmin,
                            const __m256i* a, const float* const* dx, const float* const* sx,
                            __m256* acc) {
  const __m256 sc = _mm256_mul_ps(d, _mm256_cvtepi32_ps(WidenU8(p + 64 + 16 * j + 8 * slice)));
  const __m256 m = _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(WidenU8(p + 192 + 16 * j + 8 * slice)));
  for (int t = 0; t < NT; ++t) {
    const float dxj = dx[t][j];
    acc[t] =
        _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(a[t]), _mm256_set1_ps(dxj)), sc, acc[t]);
    acc[t] = _mm256_fnmadd_ps(m, _mm256_set1_ps(sx[t][j]), acc[t]);
  }
}

// Q4_K: w = d * sc_j * q - dmin * m_j per 32-value sub-block j; a step's low
// nibbles belong to sub-block 2c, its high ones to 2c + 1. Eight products of
// 4-bit levels fit one int16 sum.
struct KernelQ4_K : Int8Activations<32, 1, SumForm::kScaled> {
  static constexpr size_t kGroupBlockBytes = 2368;
  static constexpr int kBlockElems = 256;
  static constexpr int kTileTokens = 4;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, int slice, const int8_t* const* xq,
                             const float* const* dx, const float* const* sx, __m256* acc) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const uint8_t* qs = p + 320 + 32 * slice;
    const __m256 d = LoadHalves(p + 16 * slice), dmin = LoadHalves(p + 32 + 16 * slice);
    for (int c = 0; c < 4; ++c) {
      __m256i a[NT], b[NT];
      for (int s = 0; s < 8; ++s) {
        const __m256i l = Load(qs + 64 * (8 * c + s));
        const __m256i lo = _mm256_and_si256(l, m4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(l, 4), m4);
        for (int t = 0; t < NT; ++t) {
          const __m256i pa = Products(lo, Broadcast4(xq[t] + 64 * c + 4 * s));
          const __m256i pb = Products(hi, Broadcast4(xq[t] + 64 * c + 32 + 4 * s));
          a[t] = s == 0 ? pa : AddInOrder16(a[t], pa);
          b[t] = s == 0 ? pb : AddInOrder16(b[t], pb);
        }
      }
      // The AVX-512 kernel's f32 operations, in its order.
      const int j = 2 * c;
      const __m256 sc_lo =
          _mm256_mul_ps(d, _mm256_cvtepi32_ps(WidenU8(p + 64 + 16 * j + 8 * slice)));
      const __m256 sc_hi =
          _mm256_mul_ps(d, _mm256_cvtepi32_ps(WidenU8(p + 80 + 16 * j + 8 * slice)));
      const __m256 m_lo =
          _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(WidenU8(p + 192 + 16 * j + 8 * slice)));
      const __m256 m_hi =
          _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(WidenU8(p + 208 + 16 * j + 8 * slice)));
      for (int t = 0; t < NT; ++t) {
        const float dx_lo = dx[t][j], dx_hi = dx[t][j + 1];
        acc[t] = _mm256_fmadd_ps(
            _mm256_mul_ps(_mm256_cvtepi32_ps(Widen(a[t])), _mm256_set1_ps(dx_lo)), sc_lo, acc[t]);
        acc[t] = _mm256_fmadd_ps(
            _mm256_mul_ps(_mm256_cvtepi32_ps(Widen(b[t])), _mm256_set1_ps(dx_hi)), sc_hi, acc[t]);
        acc[t] = _mm256_fnmadd_ps(m_lo, _mm256_set1_ps(sx[t][j]), acc[t]);
        acc[t] = _mm256_fnmadd_ps(m_hi, _mm256_set1_ps(sx[t][j + 1]), acc[t]);
      }
    }
  }
};

// One slice's 8 rows x 4 levels of kBits (3: Q3_K, 5: Q5_K, 6: Q6_K) from
// the 4 * kBits bytes at p: row r's levels are bits [4 kBits r, 4 kBits (r +
// 1)) of the slice, level i at bit kBits * i of that (pack.cc). Each 128-bit
// half loads the bytes of its 4 rows without reading past the slice. vpshufb
// gives each 16-bit half of a row's lane the two bytes that hold a pair of
// levels (0 and 1, or 2 and 3), starting at some bit o; vpmullw by 2^(T - o)
// moves every pair to the top of its half (T = 16 - 2 kBits), so the same two
// shifts and masks cut out the levels of every pair.
template <int kBits>
HWY_INLINE __m256i LoadLevels(const uint8_t* p) {
  constexpr int kSliceBytes = 4 * kBits;
  constexpr int kLoad = kBits >= 4 ? 16 : 8;  // bytes each half loads
  constexpr int kHighStart = kSliceBytes - kLoad;
  constexpr int kTop = 16 - 2 * kBits;
  struct Tables {
    alignas(32) int8_t shuffle[32];
    alignas(32) uint16_t multiplier[16];
  };
  static constexpr Tables kTables = [] {
    Tables t{};
    for (int r = 0; r < 8; ++r) {
      for (int pair = 0; pair < 2; ++pair) {
        const int bit = 4 * kBits * r + 2 * kBits * pair;
        const int byte = bit / 8 - (r < 4 ? 0 : kHighStart);
        const int half = 2 * r + pair;  // 16-bit half in the vector
        t.shuffle[2 * half] = static_cast<int8_t>(byte);
        t.shuffle[2 * half + 1] = static_cast<int8_t>(byte + 1);
        t.multiplier[half] = static_cast<uint16_t>(1 << (kTop - bit % 8));
      }
    }
    return t;
  }();
  __m128i lo, hi;
  if constexpr (kLoad == 16) {
    lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + kHighStart));
  } else {
    lo = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    hi = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + kHighStart));
  }
  const __m256i raw = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
  const __m256i pairs = _mm256_mullo_epi16(
      _mm256_shuffle_epi8(raw,
                          _mm256_load_si256(reinterpret_cast<const __m256i*>(kTables.shuffle))),
      _mm256_load_si256(reinterpret_cast<const __m256i*>(kTables.multiplier)));
  constexpr int kLevel = (1 << kBits) - 1;
  return _mm256_or_si256(
      _mm256_and_si256(_mm256_srli_epi16(pairs, kTop), _mm256_set1_epi16(kLevel)),
      _mm256_and_si256(_mm256_srli_epi16(pairs, 8 - kBits), _mm256_set1_epi16(kLevel << 8)));
}

// Q5_K: as Q4_K with levels 0..31 kept at 5 bits, step 8j + s holding values
// 32j + 4s.. of sub-block j; four products of 5-bit levels fit one int16 sum.
struct KernelQ5_K : Int8Activations<32, 1, SumForm::kScaled> {
  static constexpr size_t kGroupBlockBytes = 320 + 64 * 40;
  static constexpr int kBlockElems = 256;
  static constexpr int kTileTokens = 4;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, int slice, const int8_t* const* xq,
                             const float* const* dx, const float* const* sx, __m256* acc) {
    const uint8_t* levels = p + 320 + 20 * slice;
    const __m256 d = LoadHalves(p + 16 * slice), dmin = LoadHalves(p + 32 + 16 * slice);
    for (int j = 0; j < 8; ++j) {
      __m256i a[NT];
      for (int t = 0; t < NT; ++t) a[t] = _mm256_setzero_si256();
      for (int s0 = 0; s0 < 8; s0 += 4) {
        __m256i pairs[NT];
        for (int s = s0; s < s0 + 4; ++s) {
          const __m256i w = LoadLevels<5>(levels + 40 * (8 * j + s));
          for (int t = 0; t < NT; ++t) {
            const __m256i pw = Products(w, Broadcast4(xq[t] + 32 * j + 4 * s));
            pairs[t] = s == s0 ? pw : AddInOrder16(pairs[t], pw);
          }
        }
        for (int t = 0; t < NT; ++t) a[t] = _mm256_add_epi32(a[t], Widen(pairs[t]));
      }
      SubBlockEnd<NT>(p, slice, j, d, dmin, a, dx, sx, acc);
    }
  }
};

// Q3_K and Q6_K: w = d * sc_j * (q - kOffset) per 16-value sub-block j, as
// the AVX-512 kernel. Products per int16 sum: 4 (a sub-block) for 3-bit
// levels, 2 for 6-bit.
template <int kBits, int kOffset>
struct KernelSub16 : Int8Activations<16, -kOffset> {
  static constexpr size_t kStepBytes = 8 * kBits;
  static constexpr size_t kGroupBlockBytes = 288 + 64 * kStepBytes;
  static constexpr int kBlockElems = 256;
  static constexpr int kTileTokens = 4;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, int slice, const int8_t* const* xq,
                             const float* const* dx, const int32_t* const* sx, __m256* acc) {
    constexpr int kSteps = 2 * ((1 << kBits) - 1) * 127 * 4 <= 32767 ? 4 : 2;
    const uint8_t* levels = p + 288 + 4 * kBits * slice;
    const __m256 d = LoadHalves(p + 16 * slice);
    for (int i = 0; i < 8; ++i) {  // 32-value pieces: one activation scale each
      __m256i dot[NT];
      for (int jj = 0; jj < 2; ++jj) {
        const int j = 2 * i + jj;  // sub-block
        __m256i a[NT];             // started at -kOffset * sum(x): levels are q + kOffset
        for (int t = 0; t < NT; ++t) a[t] = _mm256_set1_epi32(sx[t][j]);
        for (int s0 = 4 * j; s0 < 4 * j + 4; s0 += kSteps) {
          __m256i pairs[NT];
          for (int s = s0; s < s0 + kSteps; ++s) {
            const __m256i w = LoadLevels<kBits>(levels + kStepBytes * s);
            for (int t = 0; t < NT; ++t) {
              const __m256i pw = Products(w, Broadcast4(xq[t] + 4 * s));
              pairs[t] = s == s0 ? pw : AddInOrder16(pairs[t], pw);
            }
          }
          for (int t = 0; t < NT; ++t) a[t] = _mm256_add_epi32(a[t], Widen(pairs[t]));
        }
        const __m256i sc = WidenS8(p + 32 + 16 * j + 8 * slice);
        for (int t = 0; t < NT; ++t) {
          const __m256i scaled = _mm256_mullo_epi32(a[t], sc);
          dot[t] = jj == 0 ? scaled : _mm256_add_epi32(dot[t], scaled);
        }
      }
      for (int t = 0; t < NT; ++t) {
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[t]),
                                 _mm256_mul_ps(d, _mm256_set1_ps(dx[t][i])), acc[t]);
      }
    }
  }
};
using KernelQ3_K = KernelSub16<3, 4>;
using KernelQ6_K = KernelSub16<6, 32>;

// Q2_K, as the AVX-512 kernel: vpshufb's 16-byte tables are exactly the 4
// rows of a 128-bit half; q * sc_j (at most 45) gives two products per int16
// sum; vpmaddwd pairs the mins with the activation sums.
struct KernelQ2_K : Int8Activations<16, 1, SumForm::kInt16Pairs> {
  static constexpr size_t kGroupBlockBytes = 320 + 64 * 16;
  static constexpr int kBlockElems = 256;
  static constexpr int kTileTokens = 4;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, int slice, const int8_t* const* xq,
                             const float* const* dx, const int32_t* const* sx, __m256* acc) {
    const uint8_t* levels = p + 320 + 8 * slice;
    const uint8_t* scale_min = p + 64 + 8 * slice;
    const __m256 d = LoadHalves(p + 16 * slice), dmin = LoadHalves(p + 32 + 16 * slice);
    const __m256i nibble = _mm256_set1_epi32(0xF);
    const __m256i multiples = _mm256_set1_epi32(0x03020100);
    const __m256i row_base = _mm256_setr_epi32(0, 0x04040404, 0x08080808, 0x0C0C0C0C, 0, 0x04040404,
                                               0x08080808, 0x0C0C0C0C);
    for (int i = 0; i < 8; ++i) {  // 32-value pieces: one activation scale each
      const __m256i sm0 = WidenU8(scale_min + 32 * i), sm1 = WidenU8(scale_min + 32 * i + 16);
      const __m256i table[2] = {_mm256_mullo_epi32(_mm256_and_si256(sm0, nibble), multiples),
                                _mm256_mullo_epi32(_mm256_and_si256(sm1, nibble), multiples)};
      const __m256i min_pairs = _mm256_or_si256(_mm256_srli_epi32(sm0, 4),
                                                _mm256_slli_epi32(_mm256_srli_epi32(sm1, 4), 16));
      __m256i a[NT];
      for (int t = 0; t < NT; ++t) a[t] = _mm256_setzero_si256();
      for (int s0 = 8 * i; s0 < 8 * i + 8; s0 += 2) {
        __m256i pairs[NT];
        for (int s = s0; s < s0 + 2; ++s) {
          const __m256i w = _mm256_shuffle_epi8(
              table[(s / 4) % 2], _mm256_or_si256(LoadLevels<2>(levels + 16 * s), row_base));
          for (int t = 0; t < NT; ++t) {
            const __m256i pw = Products(w, Broadcast4(xq[t] + 4 * s));
            pairs[t] = s == s0 ? pw : AddInOrder16(pairs[t], pw);
          }
        }
        for (int t = 0; t < NT; ++t) a[t] = AddInOrder32(a[t], Widen(pairs[t]));
      }
      for (int t = 0; t < NT; ++t) {
        const __m256i mins = _mm256_madd_epi16(min_pairs, _mm256_set1_epi32(sx[t][i]));
        const __m256 dxi = _mm256_set1_ps(dx[t][i]);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a[t]), _mm256_mul_ps(d, dxi), acc[t]);
        acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_mul_ps(dmin, dxi), acc[t]);
      }
    }
  }
};
