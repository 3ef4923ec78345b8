#include "model/weights.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstring>
#include <type_traits>

#include "base/error.h"
#include "base/half.h"
#include "base/mapped_file.h"
#include "io/model_source.h"
#include "kernels/packed_matmul.h"
#include "threading/thread_pool.h"

namespace gemma {
namespace {

// Where a tensor lives in each format. `%d` is the layer index. The HF name is
// relative to the text decoder's prefix ("model.", "language_model.model.", ...);
// nullptr: the format has no such tensor.
struct TensorName {
  TensorRole role;
  const char* gguf;
  const char* hf;
};

constexpr TensorName kEmbedding = {TensorRole::kEmbedding, "token_embd.weight",
                                   "embed_tokens.weight"};
// Gemma ties the output head to the embedding; a GGUF may still carry its own
// copy (e.g. quantized to another type). HF lm_head.weight is always a copy of
// the embedding in Gemma checkpoints and is ignored.
constexpr TensorName kOutputHead = {TensorRole::kOutputHead, "output.weight", nullptr};
constexpr TensorName kFinalNorm = {TensorRole::kFinalNorm, "output_norm.weight", "norm.weight"};
constexpr TensorName kLayerTensors[] = {
    {TensorRole::kQ, "blk.%d.attn_q.weight", "layers.%d.self_attn.q_proj.weight"},
    {TensorRole::kK, "blk.%d.attn_k.weight", "layers.%d.self_attn.k_proj.weight"},
    {TensorRole::kV, "blk.%d.attn_v.weight", "layers.%d.self_attn.v_proj.weight"},
    {TensorRole::kO, "blk.%d.attn_output.weight", "layers.%d.self_attn.o_proj.weight"},
    {TensorRole::kGate, "blk.%d.ffn_gate.weight", "layers.%d.mlp.gate_proj.weight"},
    {TensorRole::kUp, "blk.%d.ffn_up.weight", "layers.%d.mlp.up_proj.weight"},
    {TensorRole::kDown, "blk.%d.ffn_down.weight", "layers.%d.mlp.down_proj.weight"},
    {TensorRole::kInputNorm, "blk.%d.attn_norm.weight", "layers.%d.input_layernorm.weight"},
    {TensorRole::kQNorm, "blk.%d.attn_q_norm.weight", "layers.%d.self_attn.q_norm.weight"},
    {TensorRole::kKNorm, "blk.%d.attn_k_norm.weight", "layers.%d.self_attn.k_norm.weight"},
    {TensorRole::kPreFeedforwardNorm, "blk.%d.ffn_norm.weight",
     "layers.%d.pre_feedforward_layernorm.weight"},
    {TensorRole::kPostAttentionNorm, "blk.%d.post_attention_norm.weight",
     "layers.%d.post_attention_layernorm.weight"},
    {TensorRole::kPostFeedforwardNorm, "blk.%d.post_ffw_norm.weight",
     "layers.%d.post_feedforward_layernorm.weight"},
};
// Without sandwich norms (Gemma 1) the pre-MLP norm is called
// "post_attention_layernorm" in HF checkpoints (GGUF: ffn_norm).
constexpr TensorName kPreFeedforwardNormNoSandwich = {TensorRole::kPreFeedforwardNorm,
                                                      "blk.%d.ffn_norm.weight",
                                                      "layers.%d.post_attention_layernorm.weight"};

bool IsNorm(TensorRole role) {
  return role >= TensorRole::kInputNorm || role == TensorRole::kFinalNorm;
}

// Which tensors a layer has, and their shapes, from its spec.
bool LayerHas(const LayerSpec& l, TensorRole role) {
  switch (role) {
    case TensorRole::kQNorm:
    case TensorRole::kKNorm:
      return l.qk_norm;
    case TensorRole::kPostAttentionNorm:
    case TensorRole::kPostFeedforwardNorm:
      return l.sandwich_norms;
    default:
      return true;
  }
}

std::vector<int64_t> LayerShape(const ModelSpec& spec, const LayerSpec& l, TensorRole role) {
  const int64_t H = spec.hidden_size;
  const int64_t q = int64_t{l.num_attention_heads} * l.head_dim;
  const int64_t kv = int64_t{l.num_key_value_heads} * l.head_dim;
  const int64_t F = l.intermediate_size;
  switch (role) {
    case TensorRole::kQ:
      return {q, H};
    case TensorRole::kK:
    case TensorRole::kV:
      return {kv, H};
    case TensorRole::kO:
      return {H, q};
    case TensorRole::kGate:
    case TensorRole::kUp:
      return {F, H};
    case TensorRole::kDown:
      return {H, F};
    case TensorRole::kQNorm:
    case TensorRole::kKNorm:
      return {l.head_dim};
    default:
      return {H};
  }
}

class Namer {
 public:
  explicit Namer(const ModelSource& source) : source_(source) {
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

  static std::string Format(const char* pattern, int layer) {
    char buffer[160];
    std::snprintf(buffer, sizeof(buffer), pattern, layer);
    return buffer;
  }

  // The tensor in the source, or nullptr when absent (or absent from the format).
  const TensorEntry* Find(const TensorName& name, int layer) const {
    const char* pattern = is_gguf_ ? name.gguf : name.hf;
    if (pattern == nullptr) return nullptr;
    return source_.tensors.Find((is_gguf_ ? "" : hf_prefix_) + Format(pattern, layer));
  }

  // The layer index of a per-layer tensor of the text decoder ("blk.7.*",
  // "model.layers.7.*"), or -1 for any other tensor.
  int LayerOf(const std::string& name) const {
    const std::string prefix = is_gguf_ ? "blk." : hf_prefix_ + "layers.";
    if (name.compare(0, prefix.size(), prefix) != 0) return -1;
    int64_t layer = 0;
    size_t i = prefix.size();
    if (i >= name.size() || !std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
    for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i) {
      layer = std::min<int64_t>(layer * 10 + (name[i] - '0'), INT32_MAX);
    }
    return i < name.size() && name[i] == '.' ? static_cast<int>(layer) : -1;
  }

  ModelTensor Require(const TensorName& name, int layer, std::vector<int64_t> shape) const {
    ModelTensor t{
        name.role,        layer, Format(name.gguf, layer), Find(name, layer), std::move(shape),
        IsNorm(name.role)};
    if (t.entry == nullptr) {
      const std::string full = is_gguf_ ? t.gguf_name : hf_prefix_ + Format(name.hf, layer);
      Fail(source_.path, ": missing tensor '", full, "'");
    }
    if (t.entry->shape != t.shape) {
      std::string expected = "[";
      for (size_t i = 0; i < t.shape.size(); ++i)
        expected += (i ? ", " : "") + std::to_string(t.shape[i]);
      Fail(t.entry->file, ": tensor '", t.entry->name, "' has shape ", t.entry->ShapeString(),
           ", expected ", expected, "]");
    }
    return t;
  }

 private:
  const ModelSource& source_;
  bool is_gguf_ = true;
  std::string hf_prefix_ = "model.";
};

}  // namespace

WeightMatrix AsMatrix(const ModelTensor& t) {
  const TensorEntry& e = *t.entry;
  if (!MatMulSupports(e.type)) {
    Fail(e.file, ": tensor '", e.name, "' has type ", Name(e.type),
         " which this engine cannot multiply");
  }
  WeightMatrix m;
  m.type = e.type;
  m.data = e.data;
  m.rows = t.shape[0];
  m.cols = t.shape[1];
  m.row_bytes = BytesFor(e.type, m.cols);
  return m;
}

std::vector<float> EffectiveGain(const ModelSource& source, const TensorEntry& t) {
  const int64_t n = t.elements();
  std::vector<float> gain(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
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
    if (source.format != ModelFormat::kGguf) gain[i] += 1.0f;
  }
  return gain;
}

std::vector<ModelTensor> ListModelTensors(const ModelSource& source, const ModelSpec& spec) {
  const Namer namer(source);
  // Tensors of layers beyond the declared count would be ignored and the
  // model run with fewer layers than it has; as llama.cpp, refuse the file.
  // (Missing layers fail below, on their first missing tensor.)
  int highest = -1;
  std::string example;
  for (const auto& [name, entry] : source.tensors.entries()) {
    const int layer = namer.LayerOf(name);
    if (layer > highest) highest = layer, example = name;
  }
  if (highest >= spec.num_layers()) {
    const std::string key = source.format == ModelFormat::kGguf ? spec.architecture + ".block_count"
                                                                : "num_hidden_layers";
    Fail(source.path, ": the metadata says ", spec.num_layers(), " layers (", key,
         ") but the file has tensors for layer ", highest, " ('", example,
         "'): the file is inconsistent");
  }
  const int64_t H = spec.hidden_size;
  std::vector<ModelTensor> tensors;
  tensors.push_back(namer.Require(kEmbedding, 0, {spec.vocab_size, H}));
  if (namer.Find(kOutputHead, 0) != nullptr) {
    tensors.push_back(namer.Require(kOutputHead, 0, {spec.vocab_size, H}));
  }
  tensors.push_back(namer.Require(kFinalNorm, 0, {H}));
  tensors.back().layer = -1;
  tensors.front().layer = -1;
  for (int i = 0; i < spec.num_layers(); ++i) {
    const LayerSpec& l = spec.layers[i];
    for (const TensorName& name : kLayerTensors) {
      if (!LayerHas(l, name.role)) continue;
      const TensorName& actual = name.role == TensorRole::kPreFeedforwardNorm && !l.sandwich_norms
                                     ? kPreFeedforwardNormNoSandwich
                                     : name;
      tensors.push_back(namer.Require(actual, i, LayerShape(spec, l, name.role)));
    }
  }
  return tensors;
}

ModelWeights BindWeights(const ModelSource& source, const ModelSpec& spec) {
  ModelWeights w;
  w.layers.resize(spec.num_layers());
  bool has_output_head = false;
  for (const ModelTensor& t : ListModelTensors(source, spec)) {
    LayerWeights* l = t.layer >= 0 ? &w.layers[t.layer] : nullptr;
    switch (t.role) {
      case TensorRole::kEmbedding:
        w.embedding = AsMatrix(t);
        break;
      case TensorRole::kOutputHead:
        w.output_head = AsMatrix(t);
        has_output_head = true;
        break;
      case TensorRole::kFinalNorm:
        w.final_norm = EffectiveGain(source, *t.entry);
        break;
      case TensorRole::kQ:
        l->q_proj = AsMatrix(t);
        break;
      case TensorRole::kK:
        l->k_proj = AsMatrix(t);
        break;
      case TensorRole::kV:
        l->v_proj = AsMatrix(t);
        break;
      case TensorRole::kO:
        l->o_proj = AsMatrix(t);
        break;
      case TensorRole::kGate:
        l->gate_proj = AsMatrix(t);
        break;
      case TensorRole::kUp:
        l->up_proj = AsMatrix(t);
        break;
      case TensorRole::kDown:
        l->down_proj = AsMatrix(t);
        break;
      case TensorRole::kInputNorm:
        l->input_norm = EffectiveGain(source, *t.entry);
        break;
      case TensorRole::kPostAttentionNorm:
        l->post_attention_norm = EffectiveGain(source, *t.entry);
        break;
      case TensorRole::kPreFeedforwardNorm:
        l->pre_feedforward_norm = EffectiveGain(source, *t.entry);
        break;
      case TensorRole::kPostFeedforwardNorm:
        l->post_feedforward_norm = EffectiveGain(source, *t.entry);
        break;
      case TensorRole::kQNorm:
        l->q_norm = EffectiveGain(source, *t.entry);
        break;
      case TensorRole::kKNorm:
        l->k_norm = EffectiveGain(source, *t.entry);
        break;
    }
  }
  if (!has_output_head) w.output_head = w.embedding;
  return w;
}

namespace {

// Every matrix the forward pass multiplies by (the embedding is only looked
// up by row; a tied output head is the same bytes, listed as the head).
template <class Weights>  // ModelWeights or const ModelWeights
auto MultipliedMatrices(Weights& weights) {
  using Matrix = std::conditional_t<std::is_const_v<Weights>, const WeightMatrix, WeightMatrix>;
  std::vector<Matrix*> matrices = {&weights.output_head};
  for (auto& l : weights.layers) {
    for (Matrix* m :
         {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj}) {
      matrices.push_back(m);
    }
  }
  return matrices;
}

// Each matrix starts on its own page inside the arena: aligned for any
// vector load, and at most 4 KiB of padding per matrix.
constexpr size_t kArenaAlignment = 4096;

}  // namespace

size_t PackWeightsForKernels(const ModelSource& source, ModelWeights& weights, ThreadPool& pool) {
  // One arena for every packed matrix, so that huge pages round only its end
  // (a buffer per matrix rounded each to 2 MiB: 300 MiB more for Gemma 3 1B).
  std::vector<std::pair<WeightMatrix*, size_t>> planned;  // matrix, offset in the arena
  size_t total = 0;
  for (WeightMatrix* m : MultipliedMatrices(weights)) {
    if (!PackedMatMulSupports(*m)) continue;
    planned.emplace_back(m, total);
    total += (PackedBytes(*m) + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  }
  if (planned.empty()) return 0;
  weights.packed = AllocateHugeBuffer(total);
  if (!weights.packed) {
    FailWith(StatusCode::kResourceExhausted, source.path, ": out of memory repacking the weights (",
             total >> 20, " MiB; --exact uses the file's layout and needs no copy)");
  }
  weights.packed_bytes = total;
  // Not a structured binding: clang before 16 cannot capture one in a lambda.
  for (const auto& plan : planned) {
    WeightMatrix* const m = plan.first;
    uint8_t* out = weights.packed.get() + plan.second;
    const int64_t groups = (m->rows + kPackRows - 1) / kPackRows;
    pool.ParallelFor(static_cast<size_t>(groups), 64, [&](size_t g0, size_t g1, int) {
      PackGroups(*m, static_cast<int64_t>(g0), static_cast<int64_t>(g1), out);
    });
    m->packed = out;
    // Also for a tied embedding: its row lookups fault the few pages they
    // need back in from the page cache.
    for (const auto& file : source.mappings) {
      file->ReleasePages(m->data, m->row_bytes * static_cast<size_t>(m->rows));
    }
  }
  return total;
}

size_t MappedBytesReadPerToken(const ModelWeights& weights) {
  std::vector<const void*> counted;
  size_t total = 0;
  for (const WeightMatrix* m : MultipliedMatrices(weights)) {
    if (m->packed != nullptr || m->data == nullptr) continue;
    if (std::find(counted.begin(), counted.end(), m->data) != counted.end()) continue;
    counted.push_back(m->data);
    total += m->row_bytes * static_cast<size_t>(m->rows);
  }
  return total;
}

}  // namespace gemma
