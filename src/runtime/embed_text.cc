// Embed() and TextStream of include/gemma/engine.h.
#include <cmath>

#include "base/error.h"
#include "gemma/engine.h"
#include "model/batch.h"
#include "runtime/engine_impl.h"
#include "runtime/guard.h"
#include "tokenizer/tokenizer.h"

namespace gemma {

Result<std::vector<float>> Embed(Model& model, std::span<const int32_t> tokens) {
  Model::Impl& m = ModelInternals::Get(model);
  if (tokens.empty()) return Status::Error("nothing to embed: the input has no tokens");
  if (static_cast<int>(tokens.size()) > m.context) {
    return Status(StatusCode::kOutOfRange, "the input has " + std::to_string(tokens.size()) +
                                               " tokens, but the context holds " +
                                               std::to_string(m.context));
  }
  for (int32_t id : tokens) {
    if (id < 0 || id >= m.spec.vocab_size) return Status::Error("token id outside the vocabulary");
  }
  const size_t H = m.spec.hidden_size;
  std::vector<double> sum(H, 0.0);
  const Status status = Guarded([&] {
    std::lock_guard lock(m.mutex);
    SequenceKv seq;
    std::vector<float> hidden;
    Batch batch;
    try {
      for (size_t begin = 0; begin < tokens.size(); begin += m.batch_size) {
        const size_t count = std::min<size_t>(m.batch_size, tokens.size() - begin);
        const std::span<const int32_t> chunk = tokens.subspan(begin, count);
        if (!m.kv->Reserve(seq, seq.size() + static_cast<int>(count))) {
          FailWith(StatusCode::kResourceExhausted, "the KV memory is full: try again later");
        }
        batch.Clear();
        batch.Add(seq, chunk, false, /*all_logits=*/true);
        hidden.resize(count * H);
        m.executor->Forward(batch, *m.kv, *m.pool, nullptr, hidden.data());
        m.kv->Commit(seq, chunk);
        for (size_t r = 0; r < count; ++r) {
          for (size_t i = 0; i < H; ++i) sum[i] += hidden[r * H + i];
        }
      }
    } catch (...) {
      m.kv->Release(seq);
      throw;
    }
    m.kv->Release(seq);
    return Status();
  });
  if (!status.ok()) return status;
  // Mean over the tokens, then unit length.
  double norm = 0;
  for (double& v : sum) {
    v /= static_cast<double>(tokens.size());
    norm += v * v;
  }
  norm = std::sqrt(norm);
  std::vector<float> out(H);
  for (size_t i = 0; i < H; ++i) out[i] = static_cast<float>(norm > 0 ? sum[i] / norm : 0.0);
  return out;
}

struct TextStream::Impl {
  explicit Impl(const Tokenizer& t) : decoder(t) {}
  StreamingDecoder decoder;
};

TextStream::TextStream(const Model& model)
    : impl_(std::make_unique<Impl>(*ModelInternals::Get(model).tokenizer)) {}
TextStream::~TextStream() = default;
std::string TextStream::Push(int32_t token) { return impl_->decoder.Push(token); }
std::string TextStream::Flush() { return impl_->decoder.Flush(); }

std::string TextStream::TokenText(const Model& model, int32_t token) {
  return ModelInternals::Get(model).tokenizer->Decode({token});
}

}  // namespace gemma
