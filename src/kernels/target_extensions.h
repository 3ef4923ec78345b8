// x86 features beyond what Highway 1.0's AVX3_DL target enables, for kernels
// written with intrinsics: avx512vnni (the 512-bit vpdpbusd; the target string
// names only the VEX form "avxvnni") and avx512bf16 (not part of any Highway
// 1.0 target). Every CPU the AVX3_DL target accepts has VNNI; code using BF16
// runs only where the CPU reports it (PackedBf16T, Bf16DotTargetT).
//
// Use inside HWY_BEFORE_NAMESPACE() / HWY_AFTER_NAMESPACE(), in the
// `#if HWY_TARGET == HWY_AVX3_DL` part of a file:
//
//   GEMMA_PUSH_AVX512_VNNI_BF16
//   ... functions using _mm512_dpbusd_epi32, _mm512_dpbf16_ps ...
//   GEMMA_POP_AVX512_VNNI_BF16
//
// Why the target is replaced, not nested: GCC merges a nested
// `#pragma GCC target` into the enclosing one, but clang gives each function
// the target attribute of the *outermost* `#pragma clang attribute push` that
// covers it, so a nested push is ignored there (and clang ignores
// `#pragma GCC target` altogether). Popping Highway's target and pushing its
// string plus our features gives every function the same, complete feature
// list with either compiler, through Highway's own portable macros.
#pragma once

#include "hwy/base.h"  // HWY_PUSH_ATTRIBUTES, HWY_POP_ATTRIBUTES

#define GEMMA_PUSH_AVX512_VNNI_BF16 \
  HWY_POP_ATTRIBUTES                \
  HWY_PUSH_ATTRIBUTES(HWY_TARGET_STR ",avx512vnni,avx512bf16")

// Back to Highway's own target for the rest of the namespace (which
// HWY_AFTER_NAMESPACE pops).
#define GEMMA_POP_AVX512_VNNI_BF16 \
  HWY_POP_ATTRIBUTES               \
  HWY_PUSH_ATTRIBUTES(HWY_TARGET_STR)
