// The packed kernels for AVX-512 VNNI (Highway's AVX3_DL target), written
// with its intrinsics: Highway 1.0 has no u8 x s8 or bf16 dot-product op.
// Included by matmul_packed.cc inside its AVX3_DL namespace, under
// target("avx512vnni,avx512bf16"); the driver there runs these kernels.
// Layouts: pack.cc and docs/kernels.md.

// One 16-row group per vector: row r of a group in lane r.
struct Rows {
  using Acc = __m512;
  using Mask = __mmask16;
  static constexpr int kSlices = 1;  // vectors per 16-row group
  static constexpr int kRows = 16;   // rows per vector
  static HWY_INLINE Mask MaskFor(int64_t valid) {
    return static_cast<Mask>(valid >= 16 ? 0xFFFFu : (1u << valid) - 1);
  }
  static HWY_INLINE Acc Load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static HWY_INLINE void Store(float* p, Mask m, Acc v) { _mm512_mask_storeu_ps(p, m, v); }
  static HWY_INLINE Acc Zero() { return _mm512_setzero_ps(); }
};

// x as the sum of two bf16 values per element, hi = bf16(x) and lo =
// bf16(x - hi) (x - hi is exact in f32), for KernelBF16: each block of
// 32 values is 32 hi values then 32 lo values. hi + lo carries 16 of x's 24
// significant bits (relative error <= 2^-17 against bf16's 2^-9).
Activations ConvertActivationsBf16Split(const float* x, int64_t num_tokens, int64_t cols) {
  const size_t n = static_cast<size_t>(num_tokens * cols);
  int8_t* out = ThreadScratch<struct ActivationsBf16Split, int8_t>(4 * n);
  for (size_t i = 0; i < n; i += 32) {  // cols is a multiple of 32
    const __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
    const __m512bh hi = _mm512_cvtne2ps_pbh(x1, x0);
    // bf16 -> f32 is a 16-bit shift; the low halves of the vector hold x0's.
    const __m512i hi_bits = reinterpret_cast<const __m512i&>(hi);
    const __m512 hi0 = _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(hi_bits)), 16));
    const __m512 hi1 = _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(hi_bits, 1)), 16));
    const __m512bh lo = _mm512_cvtne2ps_pbh(_mm512_sub_ps(x1, hi1), _mm512_sub_ps(x0, hi0));
    _mm512_storeu_si512(out + 4 * i, hi_bits);
    _mm512_storeu_si512(out + 4 * i + 64, reinterpret_cast<const __m512i&>(lo));
  }
  return {out, nullptr, nullptr, nullptr, cols, 0, 0, 4};
}

// The 4 activation bytes starting at p, broadcast to every lane.
HWY_INLINE __m512i Broadcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// The 16 activation bytes at p in every 128-bit lane, for QuadOf: a step's
// 4 bytes by an in-lane shuffle instead of a broadcast load. KernelQ8_0's
// 8-token tile issues a broadcast load per dpbusd, and taking half its steps
// from shuffles measured 1.07-1.12x (8-token tiles, 64-token prefill). The
// 4-bit kernels' unpacking already keeps the shuffle ports busy: the same
// change made Q4_0 0.81-0.85x.
HWY_INLINE __m512i Broadcast16(const int8_t* p) {
  return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Bytes 4s..4s+3 of each 128-bit lane of v (from Broadcast16), in every lane.
HWY_INLINE __m512i QuadOf(__m512i v, int s) {
  switch (s) {
    case 0:
      return _mm512_shuffle_epi32(v, _MM_PERM_AAAA);
    case 1:
      return _mm512_shuffle_epi32(v, _MM_PERM_BBBB);
    case 2:
      return _mm512_shuffle_epi32(v, _MM_PERM_CCCC);
    default:
      return _mm512_shuffle_epi32(v, _MM_PERM_DDDD);
  }
}

HWY_INLINE __m512 LoadHalves(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

HWY_INLINE __m512i Load(const uint8_t* p) { return _mm512_loadu_si512(p); }

HWY_INLINE __m512i WidenU8(const uint8_t* p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
HWY_INLINE __m512i WidenS8(const uint8_t* p) {
  return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// The shared end of the Q4_0/Q4_1/Q5_0/Q5_1 kernels: lo[s] / hi[s] hold the
// 16 rows' unsigned levels of values 4s.. and 16 + 4s.. of a 32-value block
// (dw its scales). Without kMin (Q4_0, Q5_0: w = d * (level - offset)) each
// token's integer sum starts at -offset * sum(x), the activation sums being
// stored premultiplied, and one FMA applies dw * dx. With kMin (Q4_1, Q5_1:
// w = d * level + m) it starts at 0 and a second FMA adds m * dx * sum(x).
template <int NT, bool kMin, class Sum>
HWY_INLINE void NibbleBlockDots(const __m512i* lo, const __m512i* hi, __m512 dw, __m512 mw,
                                const int8_t* const* xq, const float* const* dx,
                                const Sum* const* sx, __m512* acc) {
  __m512i a[NT];  // steps outside, tokens inside: NT chains side by side
  for (int t = 0; t < NT; ++t) {
    if constexpr (kMin) {
      a[t] = _mm512_setzero_si512();
    } else {
      a[t] = _mm512_set1_epi32(sx[t][0]);  // -offset * sum(x)
    }
  }
  for (int s = 0; s < 4; ++s) {
    for (int t = 0; t < NT; ++t) a[t] = _mm512_dpbusd_epi32(a[t], lo[s], Broadcast4(xq[t] + 4 * s));
    for (int t = 0; t < NT; ++t) {
      a[t] = _mm512_dpbusd_epi32(a[t], hi[s], Broadcast4(xq[t] + 16 + 4 * s));
    }
  }
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[t]), _mm512_mul_ps(dw, _mm512_set1_ps(dx[t][0])),
                             acc[t]);
    if constexpr (kMin) {
      acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(sx[t][0]), acc[t]);  // dx * sum(x)
    }
  }
}

// Q4_0 (levels are q + 8) and Q4_1 (levels q, and the 16 rows' f16 mins
// after the scales).
template <bool kMin>
struct KernelQ4 : Int8Activations<32, kMin ? 1 : -8, kMin ? SumForm::kScaled : SumForm::kInt> {
  static constexpr size_t kGroupBlockBytes = kMin ? 320 : 288;
  static constexpr int kBlockElems = 32;
  static constexpr int kTileTokens = 8;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, int /*slice*/, const int8_t* const* xq,
                             const float* const* dx, const typename KernelQ4::Sum* const* sx,
                             __m512* acc) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const uint8_t* steps = p + (kMin ? 64 : 32);
    __m512i lo[4], hi[4];
    for (int s = 0; s < 4; ++s) {
      const __m512i l = Load(steps + 64 * s);
      lo[s] = _mm512_and_si512(l, m4);
      hi[s] = _mm512_and_si512(_mm512_srli_epi16(l, 4), m4);
    }
    const __m512 mw = kMin ? LoadHalves(p + 32) : _mm512_setzero_ps();
    NibbleBlockDots<NT, kMin>(lo, hi, LoadHalves(p), mw, xq, dx, sx, acc);
  }
};
using KernelQ4_0 = KernelQ4<false>;
using KernelQ4_1 = KernelQ4<true>;

// Q5_0 (levels q + 16) and Q5_1 (levels q, plus mins): as Q4 plus a fifth
// bit per value: bit j of the row's 32-bit qh word is bit 4 of value j
// (j < 16: low nibbles, else high). vpshufbitqmb gathers, for each byte of a
// step, its value's bit out of the lane's qh word.
template <bool kMin>
struct KernelQ5 : Int8Activations<32, kMin ? 1 : -16, kMin ? SumForm::kScaled : SumForm::kInt> {
  static constexpr size_t kGroupBlockBytes = kMin ? 384 : 352;
  static constexpr int kBlockElems = 32;
  static constexpr int kTileTokens = 8;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, int /*slice*/, const int8_t* const* xq,
                             const float* const* dx, const typename KernelQ5::Sum* const* sx,
                             __m512* acc) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i bit4 = _mm512_set1_epi8(0x10);
    // Byte j of a step belongs to lane j / 4 (row), value 4s + j % 4; its
    // row's qh sits at bit 32 * (row % 2) of the byte's 64-bit lane.
    const __m512i base =
        _mm512_set_epi8(35, 34, 33, 32, 3, 2, 1, 0, 35, 34, 33, 32, 3, 2, 1, 0, 35, 34, 33, 32, 3,
                        2, 1, 0, 35, 34, 33, 32, 3, 2, 1, 0, 35, 34, 33, 32, 3, 2, 1, 0, 35, 34, 33,
                        32, 3, 2, 1, 0, 35, 34, 33, 32, 3, 2, 1, 0, 35, 34, 33, 32, 3, 2, 1, 0);
    const uint8_t* qh_words = p + (kMin ? 64 : 32);
    const __m512i qh = Load(qh_words);
    __m512i lo[4], hi[4];
    for (int s = 0; s < 4; ++s) {
      const __m512i l = Load(qh_words + 64 + 64 * s);
      const __m512i idx = _mm512_add_epi8(base, _mm512_set1_epi8(static_cast<char>(4 * s)));
      const __mmask64 k_lo = _mm512_bitshuffle_epi64_mask(qh, idx);
      const __mmask64 k_hi =
          _mm512_bitshuffle_epi64_mask(qh, _mm512_add_epi8(idx, _mm512_set1_epi8(16)));
      lo[s] = _mm512_mask_add_epi8(_mm512_and_si512(l, m4), k_lo, _mm512_and_si512(l, m4), bit4);
      const __m512i h = _mm512_and_si512(_mm512_srli_epi16(l, 4), m4);
      hi[s] = _mm512_mask_add_epi8(h, k_hi, h, bit4);
    }
    const __m512 mw = kMin ? LoadHalves(p + 32) : _mm512_setzero_ps();
    NibbleBlockDots<NT, kMin>(lo, hi, LoadHalves(p), mw, xq, dx, sx, acc);
  }
};
using KernelQ5_0 = KernelQ5<false>;
using KernelQ5_1 = KernelQ5<true>;

struct KernelQ8_0 : Int8Activations<32, -128> {
  static constexpr size_t kGroupBlockBytes = 544;
  static constexpr int kBlockElems = 32;
  static constexpr int kTileTokens = 8;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, int /*slice*/, const int8_t* const* xq,
                             const float* const* dx, const int32_t* const* sx, __m512* acc) {
    const __m512 dw = LoadHalves(p);
    // Levels are stored as q + 128: start from -128 * sum(x). Steps outside,
    // tokens inside: NT independent chains side by side in program order.
    __m512i a[NT];
    for (int t = 0; t < NT; ++t) a[t] = _mm512_set1_epi32(sx[t][0]);
    for (int s = 0; s < 4; ++s) {
      const __m512i w = Load(p + 32 + 64 * s);
      for (int t = 0; t < NT; ++t) a[t] = _mm512_dpbusd_epi32(a[t], w, Broadcast4(xq[t] + 4 * s));
    }
    __m512i x_hi[NT];  // values 16..31: shuffled; 0..15 broadcast loads
    for (int t = 0; t < NT; ++t) x_hi[t] = Broadcast16(xq[t] + 16);
    for (int s = 0; s < 4; ++s) {
      const __m512i w = Load(p + 32 + 64 * (4 + s));
      for (int t = 0; t < NT; ++t) a[t] = _mm512_dpbusd_epi32(a[t], w, QuadOf(x_hi[t], s));
    }
    for (int t = 0; t < NT; ++t) {
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[t]),
                               _mm512_mul_ps(dw, _mm512_set1_ps(dx[t][0])), acc[t]);
    }
  }
};

// Q4_K: w = d * sc_j * q - dmin * m_j per 32-value sub-block j; levels
// 0..15. x has a scale per 32 values too, so each sub-block ends in f32.
struct KernelQ4_K : Int8Activations<32, 1, SumForm::kScaled> {
  static constexpr size_t kGroupBlockBytes = 2368;
  static constexpr int kBlockElems = 256;
  static constexpr int kTileTokens = 4;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, int /*slice*/, const int8_t* const* xq,
                             const float* const* dx, const float* const* sx, __m512* acc) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const uint8_t* qs = p + 320;
    const __m512 d = LoadHalves(p), dmin = LoadHalves(p + 32);
    for (int c = 0; c < 4; ++c) {
      __m512i a[NT], b[NT];
      for (int t = 0; t < NT; ++t) a[t] = b[t] = _mm512_setzero_si512();
      // One step: 16 rows x 4 values of the low nibbles (sub-block 2c) and
      // of the high ones (2c + 1).
      for (int s = 0; s < 8; ++s) {
        const __m512i l = Load(qs + 64 * (8 * c + s));
        const __m512i lo = _mm512_and_si512(l, m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(l, 4), m4);
        for (int t = 0; t < NT; ++t) {
          a[t] = _mm512_dpbusd_epi32(a[t], lo, Broadcast4(xq[t] + 64 * c + 4 * s));
          b[t] = _mm512_dpbusd_epi32(b[t], hi, Broadcast4(xq[t] + 64 * c + 32 + 4 * s));
        }
      }
      const int j = 2 * c;  // sub-blocks j (low nibbles) and j + 1 (high)
      const __m512 sc_lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(WidenU8(p + 64 + 16 * j)));
      const __m512 sc_hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(WidenU8(p + 64 + 16 * (j + 1))));
      const __m512 m_lo = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(WidenU8(p + 192 + 16 * j)));
      const __m512 m_hi = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(WidenU8(p + 192 + 16 * (j + 1))));
      for (int t = 0; t < NT; ++t) {
        const float dx_lo = dx[t][j], dx_hi = dx[t][j + 1];
        // sx: dx * sum(x) per sub-block, made once per token.
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a[t]), _mm512_set1_ps(dx_lo)),
                                 sc_lo, acc[t]);
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(b[t]), _mm512_set1_ps(dx_hi)),
                                 sc_hi, acc[t]);
        acc[t] = _mm512_fnmadd_ps(m_lo, _mm512_set1_ps(sx[t][j]), acc[t]);
        acc[t] = _mm512_fnmadd_ps(m_hi, _mm512_set1_ps(sx[t][j + 1]), acc[t]);
      }
    }
  }
};

// The 8 * kBits bytes of one step at p, at the same positions of a vector
// (the bytes above are zero), read with plain loads of 8, 16 and 32 bytes.
// A masked byte load (vmovdqu8 with a mask) did the same in one instruction,
// but on AMD Zen 5 it cost ~13 cycles wherever a 40- or 48-byte step crossed
// a cache line (half of them): Q5_K and Q6_K decoded at 8.5 GB/s on one core
// against Q4_K's 28 (kernels_bench, the 262144x2304 head).
template <int kBits>
HWY_INLINE __m512i LoadStepBytes(const uint8_t* p) {
  constexpr int kBytes = 8 * kBits;
  const auto bytes16 = [](const uint8_t* q) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  };
  const auto bytes8 = [](const uint8_t* q) {
    return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q));
  };
  if constexpr (kBytes == 16) {
    return _mm512_zextsi128_si512(bytes16(p));
  } else if constexpr (kBytes == 24) {
    return _mm512_zextsi256_si512(
        _mm256_inserti128_si256(_mm256_zextsi128_si256(bytes16(p)), bytes8(p + 16), 1));
  } else {
    static_assert(kBytes == 40 || kBytes == 48, "steps of 2, 3, 5 or 6 bits per level");
    const __m512i head =
        _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_inserti32x4(head, kBytes == 48 ? bytes16(p + 32) : bytes8(p + 32), 2);
  }
}

// One step's 16 rows x 4 levels of kBits (3: Q3_K, 5: Q5_K, 6: Q6_K) from its
// 8 * kBits bytes (pack.cc): row r's levels are the (4 * kBits)-bit number
// at bit 4 * kBits * (r % 2) of the kBits bytes at kBits * (r / 2), level i
// in bits kBits * i... vpermb gives each 64-bit lane the kBits bytes of its
// two rows; vpmultishiftqb cuts 8 bits at bit kBits * i of the lane into
// byte i, and the AND drops the neighbour's bits.
template <int kBits>
HWY_INLINE __m512i LoadLevels(const uint8_t* p) {
  struct Spread {
    alignas(64) uint8_t index[64];
  };
  static constexpr Spread kSpread = [] {
    Spread s{};
    for (int i = 0; i < 8; ++i) {
      for (int k = 0; k < 8; ++k)
        s.index[8 * i + k] = static_cast<uint8_t>(kBits * i + std::min(k, kBits - 1));
    }
    return s;
  }();
  constexpr uint64_t kCuts = [] {
    uint64_t c = 0;
    for (int m = 0; m < 8; ++m) c |= static_cast<uint64_t>(kBits * m) << (8 * m);
    return c;
  }();
  const __m512i spread = _mm512_load_si512(kSpread.index);
  const __m512i raw = LoadStepBytes<kBits>(p);
  return _mm512_and_si512(
      _mm512_multishift_epi64_epi8(_mm512_set1_epi64(static_cast<int64_t>(kCuts)),
                                   _mm512_permutexvar_epi8(spread, raw)),
      _mm512_set1_epi8(static_cast<char>((1 << kBits) - 1)));
}

// Q5_K: as Q4_K with levels 0..31, kept at 5 bits: step 8j + s holds values
// 32j + 4s.. of sub-block j. Three operations unpack a step; the layout it
// replaced (Q4_K's nibbles plus a fifth-bit vector per 4 steps) needed six
// more to merge the bits and decoded at 11 GB/s from DRAM against 25 for
// Q4_K. 8-token tiles spread the unpacking in prompts.
struct KernelQ5_K : Int8Activations<32, 1, SumForm::kScaled> {
  static constexpr size_t kGroupBlockBytes = 320 + 64 * 40;
  static constexpr int kBlockElems = 256;
  static constexpr int kTileTokens = 8;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, int /*slice*/, const int8_t* const* xq,
                             const float* const* dx, const float* const* sx, __m512* acc) {
    const uint8_t* levels = p + 320;
    const __m512 d = LoadHalves(p), dmin = LoadHalves(p + 32);
    for (int j = 0; j < 8; ++j) {
      __m512i a[NT];
      for (int t = 0; t < NT; ++t) a[t] = _mm512_setzero_si512();
      for (int s = 0; s < 8; ++s) {
        const __m512i w = LoadLevels<5>(levels + 40 * (8 * j + s));
        for (int t = 0; t < NT; ++t) {
          a[t] = _mm512_dpbusd_epi32(a[t], w, Broadcast4(xq[t] + 32 * j + 4 * s));
        }
      }
      const __m512 sc = _mm512_mul_ps(d, _mm512_cvtepi32_ps(WidenU8(p + 64 + 16 * j)));
      const __m512 m = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(WidenU8(p + 192 + 16 * j)));
      for (int t = 0; t < NT; ++t) {
        const float dxj = dx[t][j];
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a[t]), _mm512_set1_ps(dxj)), sc,
                                 acc[t]);
        acc[t] = _mm512_fnmadd_ps(m, _mm512_set1_ps(sx[t][j]), acc[t]);
      }
    }
  }
};

// Q3_K and Q6_K: w = d * sc_j * (q - kOffset) per 16-value sub-block j, 4
// steps of 8 * kBits bytes per sub-block, int8 scales. Levels kept at kBits
// cost three operations per step (LoadLevels) against bytes, and save a
// quarter (Q6_K) of the bytes decode streams; 8-token tiles spread that
// unpacking in prompts (docs/kernels.md).
template <int kBits, int kOffset>
struct KernelSub16 : Int8Activations<16, -kOffset> {
  static constexpr size_t kStepBytes = 8 * kBits;
  static constexpr size_t kGroupBlockBytes = 288 + 64 * kStepBytes;
  static constexpr int kBlockElems = 256;
  static constexpr int kTileTokens = 8;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, int /*slice*/, const int8_t* const* xq,
                             const float* const* dx, const int32_t* const* sx, __m512* acc) {
    const uint8_t* levels = p + 288;
    const __m512 d = LoadHalves(p);
    for (int i = 0; i < 8; ++i) {  // 32-value pieces: one activation scale each
      __m512i dot[NT];
      for (int jj = 0; jj < 2; ++jj) {
        const int j = 2 * i + jj;  // sub-block
        __m512i a[NT];             // started at -kOffset * sum(x): levels are q + kOffset
        for (int t = 0; t < NT; ++t) a[t] = _mm512_set1_epi32(sx[t][j]);
        for (int s = 4 * j; s < 4 * j + 4; ++s) {
          const __m512i w = LoadLevels<kBits>(levels + kStepBytes * s);
          for (int t = 0; t < NT; ++t) {
            a[t] = _mm512_dpbusd_epi32(a[t], w, Broadcast4(xq[t] + 4 * s));
          }
        }
        const __m512i sc = WidenS8(p + 32 + 16 * j);
        for (int t = 0; t < NT; ++t) {
          const __m512i scaled = _mm512_mullo_epi32(a[t], sc);
          dot[t] = jj == 0 ? scaled : _mm512_add_epi32(dot[t], scaled);
        }
      }
      for (int t = 0; t < NT; ++t) {
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[t]),
                                 _mm512_mul_ps(d, _mm512_set1_ps(dx[t][i])), acc[t]);
      }
    }
  }
};
using KernelQ3_K = KernelSub16<3, 4>;
using KernelQ6_K = KernelSub16<6, 32>;

// Q2_K: w = d * sc_j * q - dmin * m_j per 16-value sub-block j, levels 0..3
// at 2 bits (a step's byte r holds row r's 4 levels), sc_j and m_j the low
// and high nibbles of one byte per row (the file's size). The scale goes
// into the weights: q * sc_j (at most 45) is a byte, looked up with vpshufb
// in a table of each row's 0, sc, 2 sc, 3 sc, so the two sub-blocks of a
// 32-value piece share one vpdpbusd chain per token; the mins meet the
// activation sums in one vpdpwssd (int16 pairs m_2i, m_2i+1 times S_2i,
// S_2i+1). Without the table, two int32 multiplies per token and sub-block
// made Q2_K prefill 0.66x ik_llama.cpp's.
struct KernelQ2_K : Int8Activations<16, 1, SumForm::kInt16Pairs> {
  static constexpr size_t kGroupBlockBytes = 320 + 64 * 16;
  static constexpr int kBlockElems = 256;
  static constexpr int kTileTokens = 8;
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, int /*slice*/, const int8_t* const* xq,
                             const float* const* dx, const int32_t* const* sx, __m512* acc) {
    const uint8_t* levels = p + 320;
    const __m512 d = LoadHalves(p), dmin = LoadHalves(p + 32);
    const __m512i nibble = _mm512_set1_epi32(0xF);
    const __m512i multiples = _mm512_set1_epi32(0x03020100);
    // Byte i of a step is row i / 4's; vpshufb looks up within 128-bit
    // lanes, whose 16 table bytes are the 4 rows' 0, sc, 2 sc, 3 sc.
    const __m512i row_base = _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0);
    for (int i = 0; i < 8; ++i) {  // 32-value pieces: one activation scale each
      const __m512i sm0 = WidenU8(p + 64 + 32 * i), sm1 = WidenU8(p + 80 + 32 * i);
      const __m512i table[2] = {_mm512_mullo_epi32(_mm512_and_si512(sm0, nibble), multiples),
                                _mm512_mullo_epi32(_mm512_and_si512(sm1, nibble), multiples)};
      const __m512i min_pairs = _mm512_or_si512(_mm512_srli_epi32(sm0, 4),
                                                _mm512_slli_epi32(_mm512_srli_epi32(sm1, 4), 16));
      __m512i a[NT];
      for (int t = 0; t < NT; ++t) a[t] = _mm512_setzero_si512();
      for (int s = 8 * i; s < 8 * i + 8; ++s) {
        const __m512i w = _mm512_shuffle_epi8(
            table[(s / 4) % 2], _mm512_or_si512(LoadLevels<2>(levels + 16 * s), row_base));
        for (int t = 0; t < NT; ++t) a[t] = _mm512_dpbusd_epi32(a[t], w, Broadcast4(xq[t] + 4 * s));
      }
      for (int t = 0; t < NT; ++t) {
        const __m512i mins =
            _mm512_dpwssd_epi32(_mm512_setzero_si512(), min_pairs, _mm512_set1_epi32(sx[t][i]));
        const __m512 dxi = _mm512_set1_ps(dx[t][i]);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[t]), _mm512_mul_ps(d, dxi), acc[t]);
        acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins), _mm512_mul_ps(dmin, dxi), acc[t]);
      }
    }
  }
};

// BF16 weights, lane = row holding values 2s, 2s + 1 at step s; x split into
// hi + lo bf16 values (ConvertActivationsBf16Split). Two vdpbf16ps per step,
// the lo product added after the hi one into the same f32 sum. Products of
// bf16 values are exact in f32, so the result is what f32 activations give
// to within the f32 rounding of the sums and x's 2^-17 representation error:
// rounding x to one bf16 (llama.cpp's BF16 path) cost the golden bf16 cases
// KL 2e-4..8e-4 and changed one greedy continuation (docs/numerics.md).
// No scales: vdpbf16ps accumulates straight into f32. More tokens per tile
// than the int8 kernels: the 16-deep FMA chain per block needs them to hide
// its latency, and only one weight register is live.
struct KernelBF16 {
  static constexpr size_t kGroupBlockBytes = 1024;
  static constexpr int kBlockElems = 32;
  static constexpr int kTileTokens = 6;
  static constexpr int kValueBytes = 4;
  using Sum = int32_t;  // none
  static Activations Prepare(const float* x, int64_t num_tokens, int64_t cols) {
    return ConvertActivationsBf16Split(x, num_tokens, cols);
  }
  static const Sum* Sums(const Activations&) { return nullptr; }
  template <int NT>
  static HWY_INLINE void Run(const uint8_t* p, int /*slice*/, const int8_t* const* xq,
                             const float* const*, const int32_t* const*, __m512* acc) {
    // The lo products go to their own sum, added once per block: hi and lo
    // into one accumulator made a chain of 32 dependent vdpbf16ps per block,
    // which held one-token decode to ~16 GB/s per core (Gemma 3 1B BF16 at
    // 0.72x its speed before the split). RunPair sums in the same order.
    __m512 lo_sum[NT];
    for (int t = 0; t < NT; ++t) lo_sum[t] = _mm512_setzero_ps();
    for (int s = 0; s < 16; ++s) {
      const __m512i w = Load(p + 64 * s);
      for (int t = 0; t < NT; ++t) {
        const __m512i hi = Broadcast4(xq[t] + 4 * s), lo = Broadcast4(xq[t] + 64 + 4 * s);
        acc[t] = _mm512_dpbf16_ps(acc[t], reinterpret_cast<const __m512bh&>(w),
                                  reinterpret_cast<const __m512bh&>(hi));
        lo_sum[t] = _mm512_dpbf16_ps(lo_sum[t], reinterpret_cast<const __m512bh&>(w),
                                     reinterpret_cast<const __m512bh&>(lo));
      }
    }
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_add_ps(acc[t], lo_sum[t]);
  }
  static constexpr bool kPairGroups = true;
  template <int NT>
  static HWY_INLINE void RunPair(const uint8_t* p0, const uint8_t* p1, const int8_t* const* xq,
                                 __m512* acc0, __m512* acc1) {
    __m512 lo0[NT], lo1[NT];
    for (int t = 0; t < NT; ++t) lo0[t] = lo1[t] = _mm512_setzero_ps();
    for (int s = 0; s < 16; ++s) {
      const __m512i w0 = Load(p0 + 64 * s), w1 = Load(p1 + 64 * s);
      for (int t = 0; t < NT; ++t) {
        const __m512i hi = Broadcast4(xq[t] + 4 * s), lo = Broadcast4(xq[t] + 64 + 4 * s);
        acc0[t] = _mm512_dpbf16_ps(acc0[t], reinterpret_cast<const __m512bh&>(w0),
                                   reinterpret_cast<const __m512bh&>(hi));
        acc1[t] = _mm512_dpbf16_ps(acc1[t], reinterpret_cast<const __m512bh&>(w1),
                                   reinterpret_cast<const __m512bh&>(hi));
        lo0[t] = _mm512_dpbf16_ps(lo0[t], reinterpret_cast<const __m512bh&>(w0),
                                  reinterpret_cast<const __m512bh&>(lo));
        lo1[t] = _mm512_dpbf16_ps(lo1[t], reinterpret_cast<const __m512bh&>(w1),
                                  reinterpret_cast<const __m512bh&>(lo));
      }
    }
    for (int t = 0; t < NT; ++t) {
      acc0[t] = _mm512_add_ps(acc0[t], lo0[t]);
      acc1[t] = _mm512_add_ps(acc1[t], lo1[t]);
    }
  }
};
