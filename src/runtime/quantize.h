// `gemma quantize`: rewrites a model (GGUF, or a Hugging Face folder) as a GGUF
// file of another type, with llama.cpp's per-tensor mixes so that the result
// loads in llama.cpp too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "gemma/tools.h"

namespace gemma {

// type: "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k", "bf16", "f16", "f32".
// Throws gemma::Error naming the file/tensor on bad input or an unknown type,
// and for quantized input to a quantized type unless allow_requantize.
// Streams: tensors are converted and written piece by piece (peak memory is
// the metadata plus a piece of one tensor); the output appears only complete.
void WriteQuantizedModel(const std::string& input, const std::string& output,
                         const std::string& type, int threads,
                         const std::function<void(const QuantizeProgress&)>& progress,
                         bool allow_requantize = false);

// A random-weight model at the shapes of a Hugging Face config.json (a text
// decoder's, or a multimodal one's with text_config), with the tokenizer at
// tokenizer_path (tokenizer.json or tokenizer.model; its size must be the
// config's vocab_size), written as `gemma quantize` would write that
// checkpoint as `type`: the same tensors, names, metadata and per-tensor
// types. For benchmarks at real sizes without the weights
// (bench/make_random_model); the values depend only on `seed`.
void WriteRandomModel(const std::string& config_path, const std::string& tokenizer_path,
                      const std::string& output, const std::string& type, uint64_t seed,
                      int threads, const std::function<void(const QuantizeProgress&)>& progress);

}  // namespace gemma
