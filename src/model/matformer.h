// MatFormer mix-n-match (Gemma 3n): E4B is trained as nested models, so a
// smaller model is E4B with each layer's feed-forward network cut to its
// first units and, optionally, some layers left out. Google's slicing
// configurations pick per-layer widths of 8192 or 16384 and skipped layers;
// the official E2B is every width 8192 with layers 20-24 skipped. Slicing
// here happens at load, on the bound weights (no copy): gate and up keep
// their first `width` rows, down its first `width` columns (the rows keep
// their stride), and a skipped layer's per-layer-embedding slices are
// computed but never read. Spec gemma-architecture.md section 5.9.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/spec.h"
#include "model/weights.h"

namespace gemma {

struct MatFormerPlan {
  std::vector<int> ffn_widths;      // one per layer of the full model; empty: keep them
  std::vector<int> skipped_layers;  // ascending, indices of the full model
  bool empty() const { return ffn_widths.empty() && skipped_layers.empty(); }
};

// Reads a slicing configuration for `spec` (the full model): "e2b" (the
// official E2B of a 35-layer E4B), or space- or ';'-separated parts
// "ffn=W" (every layer), "ffn=W0,W1,..." (one per layer) and
// "skip=20-24,30" (layers and ranges). Throws gemma::Error saying what does
// not fit.
MatFormerPlan ParseMatFormerPlan(std::string_view text, const ModelSpec& spec);

// Slices the model as the plan says: per-layer widths no wider than the
// layer's and whole blocks of the down projection's type, no skipped layer
// whose keys and values a kept layer reads. Call before the weights are
// packed. Throws gemma::Error naming the layer that does not fit.
void ApplyMatFormer(const MatFormerPlan& plan, ModelSpec& spec, ModelWeights& weights);

// "ffn 8192 x30, skipped layers 20-24" (for `gemma info`).
std::string DescribeMatFormerPlan(const MatFormerPlan& plan);

}  // namespace gemma
