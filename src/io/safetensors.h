// safetensors reader (shared spec weight-formats.md A.1): an 8-byte header
// length, a JSON header, then the packed tensor bytes, used in place from the
// mapping. Sharded checkpoints are several such files plus an index.
#pragma once

#include <memory>
#include <string>

#include "base/mapped_file.h"
#include "io/tensor_catalog.h"

namespace gemma {

// Maps `path` and adds its tensors to `catalog`; returns the mapping, which
// must outlive the catalog's users. Throws gemma::Error naming the file and the
// tensor at fault (truncated file, bad header, unsupported dtype, wrong size).
std::shared_ptr<MappedFile> ReadSafetensors(const std::string& path, TensorCatalog& catalog);

}  // namespace gemma
