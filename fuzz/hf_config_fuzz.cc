// libFuzzer target: arbitrary bytes as a Hugging Face config.json, through the
// path that turns it into the model spec (model/spec.cc) and checks the
// checkpoint's tensors against it (ListModelTensors), once against the tensors
// of each golden checkpoint (tests/data/golden/*/hf/model.safetensors).
//
// Building the spec must succeed or throw gemma::Error; anything else (another
// exception, a sanitizer report) is a bug. A spec that builds must hold what
// the forward pass relies on: finite, positive parameters.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "fuzz_paths.h"
#include "io/model_source.h"
#include "io/safetensors.h"
#include "model/spec.h"
#include "model/tensor_rows.h"
#include "model/weights.h"

namespace {

// One ModelSource per golden checkpoint, its config to be replaced by the
// fuzz input.
std::vector<std::unique_ptr<gemma::ModelSource>>& Checkpoints() {
  static std::vector<std::unique_ptr<gemma::ModelSource>> sources = [] {
    std::vector<std::unique_ptr<gemma::ModelSource>> out;
    for (const char* name : {"gemma1_mqa", "gemma2_swa", "gemma3_qknorm", "gemma3_h256"}) {
      auto source = std::make_unique<gemma::ModelSource>();
      source->format = gemma::ModelFormat::kHuggingFace;
      source->path = FuzzRepoPath("tests/data/golden/") + name + "/hf";
      try {
        source->mappings.push_back(
            gemma::ReadSafetensors(source->path + "/model.safetensors", source->tensors));
      } catch (const gemma::Error& e) {
        std::fprintf(stderr, "hf_config_fuzz: %s\n", e.what());
        std::abort();  // the fuzzer would test nothing
      }
      out.push_back(std::move(source));
    }
    return out;
  }();
  return sources;
}

// What the forward pass assumes of a spec that loaded: no Inf or NaN that a
// config's huge or tiny numbers could have turned into after the conversion
// to f32, and positive scales.
void CheckSpec(const gemma::ModelSpec& spec) {
  auto finite_positive = [](float v) { return std::isfinite(v) && v > 0; };
  if (!finite_positive(spec.rms_norm_eps) || !finite_positive(spec.embedding_scale) ||
      !std::isfinite(spec.final_logit_softcap)) {
    std::abort();
  }
  for (const gemma::LayerSpec& l : spec.layers) {
    if (!finite_positive(l.query_scale) || !finite_positive(l.rope_theta) ||
        !finite_positive(l.rope_linear_factor) || !std::isfinite(l.attn_logit_softcap)) {
      std::abort();
    }
  }
  const std::vector<gemma::KvLayerShape> kv = gemma::KvShapes(spec);
  if (kv.size() != spec.layers.size()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // As model_source.cc reads config.json: a syntax error or a non-object is
  // refused before the spec is built.
  nlohmann::json config = nlohmann::json::parse(data, data + size, nullptr, false);
  if (config.is_discarded() || !config.is_object()) return 0;
  for (const auto& source : Checkpoints()) {
    source->hf_config = config;
    try {
      const gemma::ModelSpec spec = gemma::BuildModelSpec(*source);
      CheckSpec(spec);
      (void)gemma::ListModelTensors(*source, spec);
    } catch (const gemma::Error&) {
    }
  }
  return 0;
}
