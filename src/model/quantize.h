// `gemma quantize`: rewrites a model (GGUF, or a Hugging Face folder) as a GGUF
// file of another type, with llama.cpp's per-tensor mixes so that the result
// loads in llama.cpp too.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace gemma {

struct QuantizeProgress {
  size_t tensors_done = 0, tensors_total = 0;
  size_t bytes_in = 0, bytes_out = 0;
  std::string tensor;  // the one just written
};

// type: "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k", "bf16", "f16", "f32".
// Throws gemma::Error naming the file/tensor on bad input or an unknown type.
void QuantizeModel(const std::string& input, const std::string& output, const std::string& type,
                   int threads, const std::function<void(const QuantizeProgress&)>& progress);

}  // namespace gemma
