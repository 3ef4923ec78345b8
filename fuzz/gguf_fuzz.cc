// libFuzzer target: arbitrary bytes as a GGUF model file. Loading must either
// succeed or fail with a gemma::Error; anything else (crash, sanitizer report,
// other exception) is a bug.
#include <cstdint>

#include "base/error.h"
#include "fuzz_file.h"
#include "gemma/gemma.h"
#include "io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzFile file(data, size);
  if (!file.ok()) return 0;
  try {
    gemma::GgufFile gguf(file.path());
  } catch (const gemma::Error&) {
  }
  // The whole loader (spec, weights table, tokenizer) on the same bytes. A
  // model that loads is also run on a couple of tokens.
  gemma::ModelOptions options;
  options.threads = 1;
  options.context_length = 8;
  options.batch_size = 4;
  // Repacking the weights for the integer kernels is most of a load's time:
  // one input in eight takes that path (activations rounded to 8 bits), the
  // others the f32 path.
  options.exact = size % 8 != 0;
  auto model = gemma::Model::Open(file.path(), options);
  if (model.ok()) {
    gemma::Session session(**model);
    const int32_t tokens[] = {2, 3};
    (void)session.Append(tokens);
  }
  return 0;
}
