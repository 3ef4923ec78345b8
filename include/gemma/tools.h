// Library entry points behind the `gemma` program's utility commands: a
// tokenizer on its own (no weights), model quantization, and the float16
// conversion that files of logits use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gemma/status.h"

namespace gemma {

// A model's tokenizer without its weights: from a .gguf file, a Hugging Face
// folder, a tokenizer.json or a SentencePiece tokenizer.model.
class TextTokenizer {
 public:
  static Result<std::unique_ptr<TextTokenizer>> Open(const std::string& path);
  ~TextTokenizer();

  // parse_special: "<start_of_turn>" in the text becomes that control token.
  std::vector<int32_t> Encode(std::string_view text, bool parse_special = true) const;
  std::string Decode(const std::vector<int32_t>& ids) const;
  int32_t bos_id() const;
  int vocab_size() const;

  struct Impl;

 private:
  explicit TextTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct QuantizeProgress {
  size_t tensors_done = 0, tensors_total = 0;
  size_t bytes_in = 0, bytes_out = 0;
  std::string tensor;  // the one just written
};

// Rewrites a model (a GGUF file or a Hugging Face folder) as a GGUF file of
// `type` ("q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k_m", "q5_k_m", "q6_k",
// "bf16", "f16", "f32", either case) with llama.cpp's per-tensor mixes.
// Input whose weights are already quantized is refused for a quantized type
// unless allow_requantize (the rounding of both steps adds up). Tensors are
// streamed to `output`: memory stays about one tensor piece plus metadata.
Status QuantizeModel(const std::string& input, const std::string& output, const std::string& type,
                     int threads, const std::function<void(const QuantizeProgress&)>& progress,
                     bool allow_requantize = false);

// IEEE half precision, round to nearest even.
uint16_t Float32ToFloat16(float value);
float Float16ToFloat32(uint16_t bits);

}  // namespace gemma
