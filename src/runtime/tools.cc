// The utility entry points of include/gemma/tools.h.
#include "gemma/tools.h"

#include "base/half.h"
#include "runtime/guard.h"
#include "runtime/tokenizer_loader.h"
#include "tokenizer/tokenizer.h"

namespace gemma {

struct TextTokenizer::Impl {
  Tokenizer tokenizer;
};

TextTokenizer::TextTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TextTokenizer::~TextTokenizer() = default;

Result<std::unique_ptr<TextTokenizer>> TextTokenizer::Open(const std::string& path) {
  std::unique_ptr<TextTokenizer> result;
  const Status status = Guarded(
      [&] {
        result.reset(new TextTokenizer(std::make_unique<Impl>(Impl{LoadTokenizerFile(path)})));
        return Status();
      },
      path);
  if (!status.ok()) return status;
  return result;
}

std::vector<int32_t> TextTokenizer::Encode(std::string_view text, bool parse_special) const {
  return impl_->tokenizer.Encode(text, parse_special);
}

std::string TextTokenizer::Decode(const std::vector<int32_t>& ids) const {
  return impl_->tokenizer.Decode(ids);
}

int32_t TextTokenizer::bos_id() const { return impl_->tokenizer.bos_id(); }
int TextTokenizer::vocab_size() const { return impl_->tokenizer.vocab_size(); }

uint16_t Float32ToFloat16(float value) { return F32ToF16(value); }
float Float16ToFloat32(uint16_t bits) { return F16ToF32(bits); }

}  // namespace gemma
