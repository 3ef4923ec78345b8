// libFuzzer target: arbitrary bytes as a safetensors file.
#include <cstdint>

#include "base/error.h"
#include "fuzz_file.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzFile file(data, size);
  if (!file.ok()) return 0;
  try {
    gemma::TensorCatalog catalog;
    auto mapping = gemma::ReadSafetensors(file.path(), catalog);
    // Touch every tensor's bytes: the reader promised they are in bounds.
    volatile uint8_t sum = 0;
    for (const auto& [name, t] : catalog.entries()) {
      if (t.size_bytes > 0) sum = sum + t.data[0] + t.data[t.size_bytes - 1];
    }
  } catch (const gemma::Error&) {
  }
  return 0;
}
