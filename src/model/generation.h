// The Gemma generations this engine reads, one builder each (gemma1.cc,
// gemma2.cc, gemma3.cc, gemma3n.cc, gemma4.cc): what a generation is called in either format, how
// its config becomes a ModelSpec, and its tensor rows. Adding a generation
// is one more file and one more line in the registry (generation.cc;
// docs/model-builders.md).
#pragma once

#include <span>

#include "io/model_config.h"
#include "model/spec.h"
#include "model/tensor_rows.h"

namespace gemma {

struct ModelSource;

struct Generation {
  // general.architecture in GGUF, and ModelSpec::architecture.
  const char* gguf_architecture;
  // config.json model_type of the text decoder ("gemma3_text").
  const char* hf_model_type;
  // model_type of a multimodal checkpoint whose text decoder this is, its
  // config under text_config ("gemma3"); nullptr if none.
  const char* hf_multimodal_type;
  // The spec from the config (GGUF metadata or the decoder's config.json,
  // under config.json's names) and the embedding's rows. The caller sets
  // ModelSpec::architecture and validates the result. `tensors` answers
  // for facts GGUF keeps only in its tensors (Gemma 4: which layers lack
  // attn_v, the proportional RoPE in rope_freqs).
  ModelSpec (*build_spec)(const ModelConfig& config, const TensorNamer& tensors, int vocab_size);
  std::span<const TensorRow> rows;
  // Added to a norm weight stored in an HF checkpoint to get the gain
  // RMSNorm multiplies by: Gemma 1-3 store w for a gain of 1 + w (llama.cpp's
  // converter writes 1 + w into GGUF); Gemma 3n/4 store the gain itself.
  float hf_norm_offset;
};

extern const Generation kGemma1;
extern const Generation kGemma2;
extern const Generation kGemma3;
extern const Generation kGemma3n;
extern const Generation kGemma4;

std::span<const Generation* const> Generations();

// The generation whose gguf_architecture is spec.architecture; throws
// gemma::Error for one this engine does not know.
const Generation& GenerationOf(const ModelSpec& spec);

// Reads the source's config through its generation's builder and validates
// the spec. Throws gemma::Error naming the file and key for an unknown
// architecture or model_type, a missing or invalid key, or an implausible
// size.
ModelSpec BuildModelSpec(const ModelSource& source);

}  // namespace gemma
