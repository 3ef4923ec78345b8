// Grow-only per-thread scratch for kernel temporaries (quantized
// activations, widened tiles): one aligned buffer per thread and Tag, so
// kernels on pool threads never allocate once warmed up. A call may return a
// new pointer and then invalidates what the previous call with the same Tag
// returned on that thread; use distinct Tags for buffers live at once.
#pragma once

#include <cstddef>

#include "hwy/aligned_allocator.h"

namespace gemma {

template <class Tag, class T>
T* ThreadScratch(size_t n) {
  static thread_local hwy::AlignedFreeUniquePtr<T[]> buf;
  static thread_local size_t capacity = 0;
  if (capacity < n) {
    buf = hwy::AllocateAligned<T>(n);
    capacity = n;
  }
  return buf.get();
}

}  // namespace gemma
