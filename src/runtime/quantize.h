// `gemma quantize`: rewrites a model (GGUF, or a Hugging Face folder) as a GGUF
// file of another type, with llama.cpp's per-tensor mixes so that the result
// loads in llama.cpp too.
#pragma once

#include <cstddef>
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

}  // namespace gemma
