// Writes safetensors files for tests (e.g. re-sharding or renaming the golden
// checkpoints) from TensorEntry views.
#pragma once

#include <string>
#include <vector>

#include "io/tensor_catalog.h"

namespace gemma::testing {

// `rename` maps each tensor's name to the one written.
void WriteSafetensors(const std::string& path, const std::vector<const TensorEntry*>& tensors,
                      const std::string& prefix_to_add = "");

}  // namespace gemma::testing
