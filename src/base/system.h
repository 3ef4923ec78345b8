// Facts about the machine the engine runs on.
#pragma once

#include <cstddef>

namespace gemma {

// Physical memory in bytes (0 if unknown).
size_t PhysicalMemoryBytes();

}  // namespace gemma
