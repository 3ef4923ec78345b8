// Tensor rows: one row per tensor a generation's decoder reads, with
// everything the engine needs to know about it in one place (gemma.cpp's
// tensor_info is the model): its name in GGUF and in Hugging Face
// checkpoints, its shape, when it is present, the member of ModelWeights or
// LayerWeights it binds to, and the least precision `gemma quantize` may give
// it. The loader (BindWeights) and `gemma quantize` walk the rows; a new
// tensor is one new row (and its member). docs/model-builders.md.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "model/spec.h"
#include "model/weights.h"

namespace gemma {

struct ModelSource;
struct TensorEntry;

// A dimension of a tensor's shape, from the spec (per layer where it varies).
// Gemma 3n/4 add theirs here: per-layer-input width, layers x that width,
// experts, expert width, AltUp streams.
enum class Dim : uint8_t {
  kNone,     // pads a shape of lower rank
  kVocab,    // embedding rows (ModelSpec::vocab_size)
  kHidden,   // hidden_size
  kQWidth,   // num_attention_heads x head_dim
  kKvWidth,  // num_key_value_heads x head_dim
  kFfn,      // intermediate_size
  kHeadDim,  // head_dim
  kOne,      // a single value (Gemma 4's layer_scalar)
  // head_dim / 2 of the global layers (Gemma 4's rope_freqs, one divisor per
  // frequency pair); model level.
  kGlobalRopePairs,
  // Per-layer embeddings (Gemma 3n/4): their width P, all layers' widths
  // L x P, and the rows of their token table. kPerLayerInput is per layer or
  // model level (the projection's norm), the other two model level.
  kPerLayerInput,
  kPerLayerInputs,
  kPerLayerVocab,
  // Mixture of experts (Gemma 4 26B-A4B): the expert count, an expert's
  // width Fe and its fused gate and up rows 2 x Fe; per layer.
  kExperts,
  kExpertFfn,
  kExpertGateUp,
  // AltUp (Gemma 3n): the stream count K, K x K, and the streams but the
  // active one K - 1 (model level); LAuReL's rank (per layer).
  kAltupStreams,
  kAltupStreamPairs,
  kAltupOtherStreams,
  kLaurelRank,
};

enum class Presence : uint8_t {
  kRequired,  // every layer (for a model-level row: the model) has it
  kOptional,  // read when the file has it (GGUF may carry its own output head)
  // Required on the layers `when` selects, not read on the others (Gemma 4:
  // no K/V projections on layers that reuse another layer's KV, no V on
  // K = V layers; Gemma 3n ships those unused K/V, which stay unread and
  // which `gemma quantize` writes through: ListUnreadTensors). A
  // model-level row is required when `when` selects some layer (the
  // per-layer embedding tables, when any layer takes a per-layer input).
  kWhen,
};

// The least precision `gemma quantize` gives the tensor (llama.cpp's
// per-tensor rules in llama-quant.cpp, so that files load there too).
enum class QuantRule : uint8_t {
  kF32,             // always f32 (norm gains, written as the effective gain)
  kBase,            // the target type
  kOutputHead,      // the target's output type (Q6_K in the 4- and 5-bit mixes)
  kEmbedding,       // as kOutputHead when the output head is tied to it, else kBase
  kMoreBits,        // Q6_K on llama.cpp's use_more_bits layers in the _M mixes
  kNeverQuantized,  // the target type when it is f32/f16/bf16, else f32 (as llama-quantize)
};

// The member a tensor binds to: a matrix (multiplied or looked up, kept in
// the file's type) or a norm gain (an f32 copy of the effective gain), of
// the model or of each layer; or a layer's stack of expert matrices (a 3-D
// tensor [experts, rows, cols], bound as one matrix per expert); or a
// model-level stack of matrices (Gemma 3n's AltUp projections): a 3-D
// tensor's slices (GGUF), or one 2-D tensor per row appended in row order
// (HF checkpoints store them apart).
using TensorBinding = std::variant<WeightMatrix ModelWeights::*, std::vector<float> ModelWeights::*,
                                   WeightMatrix LayerWeights::*, std::vector<float> LayerWeights::*,
                                   std::vector<WeightMatrix> LayerWeights::*,
                                   std::vector<WeightMatrix> ModelWeights::*>;

struct TensorRow {
  // "%d" stands for the layer index in a per-layer row's names. nullptr:
  // GGUF files do not store it (a part of a tensor GGUF stores whole).
  const char* gguf;
  // Relative to the text decoder's prefix in the checkpoint ("model.",
  // "language_model.model.", ...); nullptr: HF checkpoints do not store it.
  const char* hf;
  std::array<Dim, 3> shape;  // outermost first (PyTorch order), kNone-padded
  TensorBinding member;
  QuantRule quant = QuantRule::kBase;
  Presence presence = Presence::kRequired;
  bool (*when)(const LayerSpec& layer) = nullptr;  // for Presence::kWhen

  bool per_layer() const { return member.index() >= 2 && member.index() <= 4; }
  bool is_gain() const { return member.index() == 1 || member.index() == 3; }
};

// A row resolved against a file: the tensor found for one layer.
struct ModelTensor {
  const TensorRow* row = nullptr;
  int layer = -1;  // -1 for model-level tensors
  // Its GGUF name (what `gemma quantize` writes). For a part of a tensor GGUF
  // stores whole (TensorRow::gguf nullptr), the whole's name: the row of the
  // same member that GGUF has; "" if there is none.
  std::string gguf_name;
  const TensorEntry* entry = nullptr;
  std::vector<int64_t> shape;  // expected, outermost first
  bool is_norm = false;        // a gain vector (row->is_gain())
  float gain_offset = 0;       // added to the stored values to get the gain
};

// The expected shape of `row` on `layer` (-1: model level).
std::vector<int64_t> RowShape(const TensorRow& row, const ModelSpec& spec, int layer);

// Finds a generation's tensors in a source: the HF decoder prefix is the one
// under which the file has the embedding.
class TensorNamer {
 public:
  explicit TensorNamer(const ModelSource& source);
  // The row's name in this file's format for `layer`; "" when the format
  // has no such tensor.
  std::string Name(const TensorRow& row, int layer) const;
  // The tensor, or nullptr when absent.
  const TensorEntry* Find(const TensorRow& row, int layer) const;
  // The layer index of a per-layer tensor name ("blk.7.*", "model.layers.7.*"),
  // or -1 for any other tensor.
  int LayerOf(const std::string& name) const;

 private:
  const ModelSource& source_;
  bool is_gguf_ = true;
  std::string hf_prefix_ = "model.";
};

// Every tensor the spec's rows call for, in row order (model-level rows,
// then each layer's), checked for presence and shape. Throws gemma::Error
// naming the file and tensor when one is missing or misshapen, or when the
// file has tensors for more layers than the spec.
std::vector<ModelTensor> ListModelTensors(const ModelSource& source, const ModelSpec& spec);

// The tensors a file carries for rows the spec does not read on a layer
// (Presence::kWhen rows whose `when` leaves the layer out): Gemma 3n
// checkpoints and GGUFs ship k/v for the KV-sharing layers. The model never
// binds them; `gemma quantize` writes them through, as llama.cpp's converter
// and llama-quantize keep them. Checked for shape like ListModelTensors.
std::vector<ModelTensor> ListUnreadTensors(const ModelSource& source, const ModelSpec& spec);

// A matrix tensor as the kernels see it (a 3-D tensor as one matrix of all
// its rows); throws gemma::Error naming the file and tensor if its type is
// one the kernels cannot read.
WeightMatrix AsMatrix(const ModelTensor& t);

// A 3-D tensor [experts, rows, cols] as one matrix per expert, each a slice
// of the file's bytes.
std::vector<WeightMatrix> ExpertSlices(const ModelTensor& t);

// A norm tensor's gain as f32: the stored values plus t.gain_offset.
std::vector<float> EffectiveGain(const ModelTensor& t);

}  // namespace gemma
