#include "model/weights.h"

#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "base/half.h"
#include "io/model_source.h"

namespace gemma {
namespace {

// Where a tensor lives in each format. `%d` is the layer index. The HF name is
// relative to the text decoder's prefix ("model.", "language_model.model.", ...).
struct TensorName {
  const char* gguf;
  const char* hf;
};

constexpr TensorName kEmbedding = {"token_embd.weight", "embed_tokens.weight"};
// Gemma ties the output head to the embedding; a GGUF may still carry its own
// copy (e.g. quantized to another type). HF lm_head.weight is always a copy of
// the embedding in Gemma checkpoints and is ignored.
constexpr TensorName kOutputHead = {"output.weight", nullptr};
constexpr TensorName kFinalNorm = {"output_norm.weight", "norm.weight"};
constexpr TensorName kQ = {"blk.%d.attn_q.weight", "layers.%d.self_attn.q_proj.weight"};
constexpr TensorName kK = {"blk.%d.attn_k.weight", "layers.%d.self_attn.k_proj.weight"};
constexpr TensorName kV = {"blk.%d.attn_v.weight", "layers.%d.self_attn.v_proj.weight"};
constexpr TensorName kO = {"blk.%d.attn_output.weight", "layers.%d.self_attn.o_proj.weight"};
constexpr TensorName kGate = {"blk.%d.ffn_gate.weight", "layers.%d.mlp.gate_proj.weight"};
constexpr TensorName kUp = {"blk.%d.ffn_up.weight", "layers.%d.mlp.up_proj.weight"};
constexpr TensorName kDown = {"blk.%d.ffn_down.weight", "layers.%d.mlp.down_proj.weight"};
constexpr TensorName kInputNorm = {"blk.%d.attn_norm.weight", "layers.%d.input_layernorm.weight"};
constexpr TensorName kQNorm = {"blk.%d.attn_q_norm.weight", "layers.%d.self_attn.q_norm.weight"};
constexpr TensorName kKNorm = {"blk.%d.attn_k_norm.weight", "layers.%d.self_attn.k_norm.weight"};
// Without sandwich norms (Gemma 1) the pre-MLP norm is called
// "post_attention_layernorm" in HF checkpoints (GGUF: ffn_norm).
constexpr TensorName kPreFfwNormGemma1 = {"blk.%d.ffn_norm.weight",
                                          "layers.%d.post_attention_layernorm.weight"};
constexpr TensorName kPreFfwNorm = {"blk.%d.ffn_norm.weight",
                                    "layers.%d.pre_feedforward_layernorm.weight"};
constexpr TensorName kPostAttnNorm = {"blk.%d.post_attention_norm.weight",
                                      "layers.%d.post_attention_layernorm.weight"};
constexpr TensorName kPostFfwNorm = {"blk.%d.post_ffw_norm.weight",
                                     "layers.%d.post_feedforward_layernorm.weight"};

class Binder {
 public:
  Binder(const ModelSource& source) : source_(source) {
    is_gguf_ = source.format == ModelFormat::kGguf;
    if (!is_gguf_) {
      for (const char* prefix : {"model.", "language_model.model.", "model.language_model."}) {
        if (source.tensors.Find(std::string(prefix) + "embed_tokens.weight")) {
          hf_prefix_ = prefix;
          break;
        }
      }
    }
  }

  bool Has(const TensorName& name) const { return Find(name, 0) != nullptr; }

  WeightMatrix Matrix(const TensorName& name, int layer, int64_t rows, int64_t cols) {
    const TensorEntry& t = Get(name, layer);
    if (t.shape.size() != 2 || t.shape[0] != rows || t.shape[1] != cols) {
      Fail(t.file, ": tensor '", t.name, "' has shape ", t.ShapeString(), ", expected [", rows, ", ",
           cols, "]");
    }
    if (!MatMulSupports(t.type)) {
      Fail(t.file, ": tensor '", t.name, "' has type ", Name(t.type),
           " which this engine cannot multiply");
    }
    WeightMatrix m;
    m.type = t.type;
    m.data = t.data;
    m.rows = rows;
    m.cols = cols;
    m.row_bytes = BytesFor(t.type, cols);
    return m;
  }

  // Returns the effective gain: HF stores w (gain 1 + w), GGUF already 1 + w.
  std::vector<float> Norm(const TensorName& name, int layer, int64_t size) {
    const TensorEntry& t = Get(name, layer);
    if (t.shape.size() != 1 || t.shape[0] != size) {
      Fail(t.file, ": tensor '", t.name, "' has shape ", t.ShapeString(), ", expected [", size, "]");
    }
    std::vector<float> gain(static_cast<size_t>(size));
    for (int64_t i = 0; i < size; ++i) {
      uint16_t half;
      switch (t.type) {
        case DType::kF32:
          std::memcpy(&gain[i], t.data + 4 * i, 4);
          break;
        case DType::kBF16:
          std::memcpy(&half, t.data + 2 * i, 2);
          gain[i] = Bf16ToF32(half);
          break;
        case DType::kF16:
          std::memcpy(&half, t.data + 2 * i, 2);
          gain[i] = F16ToF32(half);
          break;
        default:
          Fail(t.file, ": norm tensor '", t.name, "' has type ", Name(t.type),
               " (expected f32, f16 or bf16)");
      }
      if (!is_gguf_) gain[i] += 1.0f;
    }
    return gain;
  }

 private:
  std::string FullName(const TensorName& name, int layer) const {
    const char* pattern = is_gguf_ ? name.gguf : name.hf;
    char buffer[160];
    std::snprintf(buffer, sizeof(buffer), pattern, layer);
    return is_gguf_ ? std::string(buffer) : hf_prefix_ + buffer;
  }
  const TensorEntry* Find(const TensorName& name, int layer) const {
    if ((is_gguf_ ? name.gguf : name.hf) == nullptr) return nullptr;  // not in this format
    return source_.tensors.Find(FullName(name, layer));
  }
  const TensorEntry& Get(const TensorName& name, int layer) const {
    const TensorEntry* t = Find(name, layer);
    if (t == nullptr) Fail(source_.path, ": missing tensor '", FullName(name, layer), "'");
    return *t;
  }

  const ModelSource& source_;
  bool is_gguf_ = true;
  std::string hf_prefix_ = "model.";
};

}  // namespace

ModelWeights BindWeights(const ModelSource& source, const ModelSpec& spec) {
  Binder bind(source);
  ModelWeights w;
  const int64_t H = spec.hidden_size;
  w.embedding = bind.Matrix(kEmbedding, 0, spec.vocab_size, H);
  w.output_head =
      bind.Has(kOutputHead) ? bind.Matrix(kOutputHead, 0, spec.vocab_size, H) : w.embedding;
  w.final_norm = bind.Norm(kFinalNorm, 0, H);
  for (int i = 0; i < spec.num_layers(); ++i) {
    const LayerSpec& l = spec.layers[i];
    const int64_t q_width = int64_t{l.num_attention_heads} * l.head_dim;
    const int64_t kv_width = int64_t{l.num_key_value_heads} * l.head_dim;
    const int64_t F = l.intermediate_size;
    LayerWeights lw;
    lw.q_proj = bind.Matrix(kQ, i, q_width, H);
    lw.k_proj = bind.Matrix(kK, i, kv_width, H);
    lw.v_proj = bind.Matrix(kV, i, kv_width, H);
    lw.o_proj = bind.Matrix(kO, i, H, q_width);
    lw.gate_proj = bind.Matrix(kGate, i, F, H);
    lw.up_proj = bind.Matrix(kUp, i, F, H);
    lw.down_proj = bind.Matrix(kDown, i, H, F);
    lw.input_norm = bind.Norm(kInputNorm, i, H);
    lw.pre_feedforward_norm = bind.Norm(l.sandwich_norms ? kPreFfwNorm : kPreFfwNormGemma1, i, H);
    if (l.sandwich_norms) {
      lw.post_attention_norm = bind.Norm(kPostAttnNorm, i, H);
      lw.post_feedforward_norm = bind.Norm(kPostFfwNorm, i, H);
    }
    if (l.qk_norm) {
      lw.q_norm = bind.Norm(kQNorm, i, l.head_dim);
      lw.k_norm = bind.Norm(kKNorm, i, l.head_dim);
    }
    w.layers.push_back(std::move(lw));
  }
  return w;
}

}  // namespace gemma
