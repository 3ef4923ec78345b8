// GEMMA_INLINE_LAMBDA: for the lambdas inside SIMD kernels, compiled for the
// kernel's Highway target (HWY_ATTR, which hwy/highway.h defines per target
// where the macro is used) and always inlined like the HWY_INLINE functions
// around them: GCC keeps a large lambda that is called once out of line.
#pragma once

#define GEMMA_INLINE_LAMBDA HWY_ATTR __attribute__((always_inline))
