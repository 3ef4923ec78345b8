#include "model/tensor_rows.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "base/half.h"
#include "io/model_source.h"
#include "model/generation.h"

namespace gemma {
namespace {

int64_t DimSize(Dim dim, const ModelSpec& spec, const LayerSpec* l) {
  switch (dim) {
    case Dim::kNone:
      return 0;
    case Dim::kVocab:
      return spec.vocab_size;
    case Dim::kHidden:
      return spec.hidden_size;
    case Dim::kQWidth:
      return int64_t{l->num_attention_heads} * l->head_dim;
    case Dim::kKvWidth:
      return int64_t{l->num_key_value_heads} * l->head_dim;
    case Dim::kFfn:
      return l->intermediate_size;
    case Dim::kHeadDim:
      return l->head_dim;
    case Dim::kOne:
      return 1;
    case Dim::kGlobalRopePairs:
      for (const LayerSpec& layer : spec.layers) {
        if (layer.attention == AttentionType::kGlobal) return layer.head_dim / 2;
      }
      return 0;
    case Dim::kPerLayerInput:
      return spec.per_layer_input_size;
    case Dim::kPerLayerInputs:
      return static_cast<int64_t>(spec.per_layer_input_width());
    case Dim::kPerLayerVocab:
      return spec.per_layer_vocab_size;
    case Dim::kExperts:
      return l->num_experts;
    case Dim::kExpertFfn:
      return l->expert_intermediate_size;
    case Dim::kExpertGateUp:
      return int64_t{2} * l->expert_intermediate_size;
    case Dim::kAltupStreams:
      return spec.altup_num_inputs;
    case Dim::kAltupStreamPairs:
      return int64_t{spec.altup_num_inputs} * spec.altup_num_inputs;
    case Dim::kAltupOtherStreams:
      return spec.altup_num_inputs - 1;
    case Dim::kLaurelRank:
      return l->laurel_rank;
  }
  return 0;
}

bool ModelLevel(Dim dim) {
  return dim == Dim::kVocab || dim == Dim::kHidden || dim == Dim::kOne ||
         dim == Dim::kGlobalRopePairs || dim == Dim::kPerLayerInput ||
         dim == Dim::kPerLayerInputs || dim == Dim::kPerLayerVocab || dim == Dim::kAltupStreams ||
         dim == Dim::kAltupStreamPairs || dim == Dim::kAltupOtherStreams;
}

std::string Format(const char* pattern, int layer) {
  char buffer[160];
  std::snprintf(buffer, sizeof(buffer), pattern, layer);
  return buffer;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

std::vector<int64_t> RowShape(const TensorRow& row, const ModelSpec& spec, int layer) {
  const LayerSpec* l = layer >= 0 ? &spec.layers[layer] : nullptr;
  std::vector<int64_t> shape;
  for (Dim dim : row.shape) {
    if (dim == Dim::kNone) break;
    if (l == nullptr && !ModelLevel(dim)) {
      Fail("internal error: model-level tensor '", row.gguf ? row.gguf : row.hf,
           "' has a per-layer dimension");
    }
    shape.push_back(DimSize(dim, spec, l));
  }
  return shape;
}

TensorNamer::TensorNamer(const ModelSource& source) : source_(source) {
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

std::string TensorNamer::Name(const TensorRow& row, int layer) const {
  const char* pattern = is_gguf_ ? row.gguf : row.hf;
  if (pattern == nullptr) return "";
  return (is_gguf_ ? "" : hf_prefix_) + Format(pattern, layer);
}

const TensorEntry* TensorNamer::Find(const TensorRow& row, int layer) const {
  const std::string name = Name(row, layer);
  return name.empty() ? nullptr : source_.tensors.Find(name);
}

int TensorNamer::LayerOf(const std::string& name) const {
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

namespace {

// A generation's rows resolved against one file.
class RowResolver {
 public:
  RowResolver(const ModelSource& source, const ModelSpec& spec)
      : spec_(spec),
        generation_(GenerationOf(spec)),
        namer_(source),
        gain_offset_(source.format == ModelFormat::kGguf ? 0.0f : generation_.hf_norm_offset) {}

  // Calls fn(row, layer) for every row: the model-level ones (layer -1)
  // first, then each layer's, in the generation's order.
  template <typename Fn>
  void ForEachRow(const Fn& fn) const {
    for (const TensorRow& row : generation_.rows) {
      if (!row.per_layer()) fn(row, -1);
    }
    for (int i = 0; i < spec_.num_layers(); ++i) {
      for (const TensorRow& row : generation_.rows) {
        if (row.per_layer()) fn(row, i);
      }
    }
  }
  const TensorNamer& namer() const { return namer_; }

  // Whether the spec reads `row` on `layer` (-1: model level; such a row is
  // read when its `when` selects some layer).
  bool Reads(const TensorRow& row, int layer) const {
    if (row.presence != Presence::kWhen) return true;
    if (layer >= 0) return row.when(spec_.layers[layer]);
    return std::any_of(spec_.layers.begin(), spec_.layers.end(), row.when);
  }

  // The row's tensor on `layer`, its entry nullptr when the file lacks it;
  // throws when the file has it in another shape.
  ModelTensor Resolve(const TensorRow& row, int layer) const {
    ModelTensor t;
    t.row = &row;
    t.layer = layer;
    t.gguf_name = GgufName(row, layer);
    t.entry = namer_.Find(row, layer);
    t.shape = RowShape(row, spec_, layer);
    t.is_norm = row.is_gain();
    t.gain_offset = t.is_norm ? gain_offset_ : 0.0f;
    if (t.entry != nullptr && t.entry->shape != t.shape) {
      Fail(t.entry->file, ": tensor '", t.entry->name, "' has shape ", t.entry->ShapeString(),
           ", expected ", ShapeText(t.shape));
    }
    return t;
  }

 private:
  // A part's name is its whole's: the row binding the same member with a
  // GGUF name.
  std::string GgufName(const TensorRow& row, int layer) const {
    if (row.gguf != nullptr) return Format(row.gguf, layer);
    for (const TensorRow& whole : generation_.rows) {
      if (whole.gguf != nullptr && whole.member == row.member) return Format(whole.gguf, layer);
    }
    return "";
  }

  const ModelSpec& spec_;
  const Generation& generation_;
  const TensorNamer namer_;
  const float gain_offset_;
};

}  // namespace

std::vector<ModelTensor> ListModelTensors(const ModelSource& source, const ModelSpec& spec) {
  const RowResolver resolver(source, spec);
  const TensorNamer& namer = resolver.namer();
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
  std::vector<ModelTensor> tensors;
  auto add = [&](const TensorRow& row, int layer) {
    if (!resolver.Reads(row, layer)) return;
    ModelTensor t = resolver.Resolve(row, layer);
    if (t.entry == nullptr) {
      if (row.presence == Presence::kOptional) return;
      Fail(source.path, ": missing tensor '", namer.Name(row, layer), "'");
    }
    tensors.push_back(std::move(t));
  };
  resolver.ForEachRow(add);
  return tensors;
}

std::vector<ModelTensor> ListUnreadTensors(const ModelSource& source, const ModelSpec& spec) {
  const RowResolver resolver(source, spec);
  std::vector<ModelTensor> tensors;
  auto add = [&](const TensorRow& row, int layer) {
    if (resolver.Reads(row, layer)) return;
    ModelTensor t = resolver.Resolve(row, layer);
    if (t.entry != nullptr) tensors.push_back(std::move(t));
  };
  resolver.ForEachRow(add);
  return tensors;
}

WeightMatrix AsMatrix(const ModelTensor& t) {
  const TensorEntry& e = *t.entry;
  if (!MatMulSupports(e.type)) {
    Fail(e.file, ": tensor '", e.name, "' has type ", Name(e.type),
         " which this engine cannot multiply");
  }
  WeightMatrix m;
  m.type = e.type;
  m.data = e.data;
  m.file = e.mapping;
  m.cols = t.shape.back();
  m.rows = 1;
  for (size_t i = 0; i + 1 < t.shape.size(); ++i) m.rows *= t.shape[i];
  m.row_bytes = BytesFor(e.type, m.cols);
  return m;
}

std::vector<WeightMatrix> ExpertSlices(const ModelTensor& t) {
  if (t.shape.size() != 3) {
    Fail(t.entry->file, ": tensor '", t.entry->name, "' should be 3-D [experts, rows, cols]");
  }
  const WeightMatrix all = AsMatrix(t);
  std::vector<WeightMatrix> slices(static_cast<size_t>(t.shape[0]), all);
  for (size_t e = 0; e < slices.size(); ++e) {
    slices[e].rows = t.shape[1];
    slices[e].data = all.Row(static_cast<int64_t>(e) * t.shape[1]);
  }
  return slices;
}

std::vector<float> EffectiveGain(const ModelTensor& tensor) {
  const TensorEntry& t = *tensor.entry;
  if (t.type != DType::kF32 && t.type != DType::kBF16 && t.type != DType::kF16) {
    Fail(t.file, ": norm tensor '", t.name, "' has type ", Name(t.type),
         " (expected f32, f16 or bf16)");
  }
  const int64_t n = t.elements();
  // Read with a file read, not through the mapping: a fault there would map
  // the whole page-cache folio around these few bytes (MappedFile::CopyOut).
  std::vector<uint8_t> bytes(BytesFor(t.type, n));
  CopyTensorBytes(t, 0, bytes.size(), bytes.data());
  std::vector<float> gain(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    uint16_t half;
    if (t.type == DType::kF32) {
      std::memcpy(&gain[i], &bytes[4 * i], 4);
    } else {
      std::memcpy(&half, &bytes[2 * i], 2);
      gain[i] = t.type == DType::kBF16 ? Bf16ToF32(half) : F16ToF32(half);
    }
    if (tensor.gain_offset != 0.0f) gain[i] += tensor.gain_offset;
  }
  return gain;
}

}  // namespace gemma
