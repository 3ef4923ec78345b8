#include "runtime/quantize.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "base/error.h"
#include "base/mapped_file.h"
#include "io/chat_template.h"
#include "io/gguf_writer.h"
#include "io/json_fields.h"
#include "io/model_config.h"
#include "io/model_source.h"
#include "kernels/ops.h"
#include "model/generation.h"
#include "model/spec.h"
#include "model/tensor_rows.h"
#include "model/weights.h"
#include "quant/quant.h"
#include "runtime/guard.h"
#include "runtime/limits.h"
#include "runtime/tokenizer_loader.h"
#include "threading/thread_pool.h"

namespace gemma {
namespace {

// A target file type: the base type of the matrices and llama.cpp's
// exceptions (llama-quant.cpp): the (tied) output head in Q6_K, and for the
// _M K-quant mixes attn_v / ffn_down in Q6_K on the layers use_more_bits picks.
struct FileType {
  const char* name;
  DType base;
  uint32_t llama_ftype;  // general.file_type
  std::optional<DType> output;
  bool more_bits_mix = false;
};

constexpr FileType kFileTypes[] = {
    {"f32", DType::kF32, 0, std::nullopt},
    {"f16", DType::kF16, 1, std::nullopt},
    {"bf16", DType::kBF16, 32, std::nullopt},
    {"q8_0", DType::kQ8_0, 7, std::nullopt},
    {"q4_0", DType::kQ4_0, 2, DType::kQ6_K},
    {"q4_1", DType::kQ4_1, 3, DType::kQ6_K},
    {"q5_0", DType::kQ5_0, 8, DType::kQ6_K},
    {"q5_1", DType::kQ5_1, 9, DType::kQ6_K},
    {"q4_k_m", DType::kQ4_K, 15, DType::kQ6_K, true},
    {"q5_k_m", DType::kQ5_K, 17, DType::kQ6_K, true},
    {"q6_k", DType::kQ6_K, 18, DType::kQ6_K},
};

// llama.cpp's use_more_bits: the first and last eighth of the layers and
// every third one between.
bool UseMoreBits(int layer, int layers) {
  return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

// K-quants need rows that are whole 256-element super-blocks; llama.cpp then
// falls back to a 32-element type of similar size.
DType Fallback(DType type, int64_t cols) {
  if (cols % Info(type).block_elems == 0) return type;
  switch (type) {
    case DType::kQ4_K:
      return DType::kQ5_0;
    case DType::kQ5_K:
      return DType::kQ5_1;
    case DType::kQ6_K:
      return DType::kQ8_0;
    default:
      return DType::kF16;
  }
}

// The type of a tensor in a file of type `ft`, from the rule its row gives.
DType ChooseType(const FileType& ft, const ModelTensor& t, const ModelSpec& spec, bool tied) {
  const int layers = spec.num_layers();
  // llama.cpp's rule for 8-expert models: K and V projections in Q8_0 (a
  // few percent of the file for the attention's precision).
  if (t.layer >= 0 && spec.layers[t.layer].num_experts == 8 && Info(ft.base).block_elems > 1 &&
      (t.row->member == TensorBinding(&LayerWeights::k_proj) ||
       t.row->member == TensorBinding(&LayerWeights::v_proj))) {
    return Fallback(DType::kQ8_0, t.shape.back());
  }
  DType type = ft.base;
  switch (t.row->quant) {
    case QuantRule::kF32:
      return DType::kF32;
    case QuantRule::kBase:
      break;
    case QuantRule::kOutputHead:
      if (ft.output) type = *ft.output;
      break;
    case QuantRule::kEmbedding:
      if (tied && ft.output) type = *ft.output;
      break;
    case QuantRule::kMoreBits:
      if (ft.more_bits_mix && UseMoreBits(t.layer, layers)) type = DType::kQ6_K;
      break;
    case QuantRule::kNeverQuantized:
      return Info(ft.base).block_elems == 1 ? ft.base : DType::kF32;
  }
  return Fallback(type, t.shape.back());
}

// Gemma 4's rope_freqs: 1 for each of the global layers' frequency pairs
// that rotates, 1e30 (no rotation) for the rest; empty for other generations.
std::vector<float> Gemma4RopeFreqs(const ModelSpec& spec) {
  if (spec.architecture != "gemma4") return {};
  const LayerSpec* global = &spec.layers.front();
  for (const LayerSpec& l : spec.layers) {
    if (l.attention != AttentionType::kSliding) global = &l;
  }
  const size_t pairs = static_cast<size_t>(global->head_dim / 2);
  const size_t rotated =
      static_cast<size_t>(std::lround(global->rope_partial_factor * static_cast<float>(pairs)));
  std::vector<float> divisors(pairs, 1e30f);
  std::fill(divisors.begin(), divisors.begin() + std::min(rotated, pairs), 1.0f);
  return divisors;
}

GgufValue StringArray(std::vector<std::string> strings) {
  GgufValue v;
  v.type = GgufType::kArray;
  v.array_type = GgufType::kString;
  v.array_size = strings.size();
  v.strings = std::move(strings);
  return v;
}

GgufValue NumberArray(GgufType type, std::vector<double> numbers) {
  GgufValue v;
  v.type = GgufType::kArray;
  v.array_type = type;
  v.array_size = numbers.size();
  v.numbers = std::move(numbers);
  return v;
}

// The GGUF metadata llama.cpp's converter writes for a Hugging Face model,
// under the keys the translation table (io/model_config.h) reads back.
void WriteHfMetadata(const ModelSource& source, const ModelSpec& spec, GgufWriter& w) {
  const std::string a = spec.architecture + ".";
  const LayerSpec& first = spec.layers.front();
  auto key = [&](const char* config_name) { return *GgufKeyFor(spec.architecture, config_name); };
  // One u32 when every layer has the same value (and the config does not
  // list it per layer, see below); else one i32 per layer, as llama.cpp's
  // converter writes Gemma 3n/4's per-layer sizes.
  auto set_per_layer = [&](const char* config_name, int LayerSpec::*field,
                           bool listed_in_config = false) {
    std::vector<double> values;
    for (const LayerSpec& l : spec.layers) values.push_back(l.*field);
    if (!listed_in_config &&
        std::all_of(values.begin(), values.end(), [&](double v) { return v == values[0]; })) {
      w.SetU32(key(config_name), first.*field);
    } else {
      w.SetValue(key(config_name), NumberArray(GgufType::kI32, std::move(values)));
    }
  };
  const bool gemma4 = spec.architecture == "gemma4";
  const bool gemma3n = spec.architecture == "gemma3n";
  if (spec.architecture != "gemma" && spec.architecture != "gemma2" &&
      spec.architecture != "gemma3" && !gemma3n && !gemma4) {
    Fail(source.path, ": writing a ", spec.architecture,
         " checkpoint folder as GGUF is not supported yet");
  }
  // The text decoder's config.json object (a multimodal checkpoint nests it).
  const nlohmann::json& text_config =
      source.hf_config.contains("text_config") && source.hf_config.at("text_config").is_object()
          ? source.hf_config.at("text_config")
          : source.hf_config;
  // Gemma 4's sliding and global layers have their own head sizes (GGUF:
  // key_length_swa and key_length); other generations one for all layers.
  const LayerSpec* sliding = nullptr;
  const LayerSpec* global = nullptr;
  for (const LayerSpec& l : spec.layers) {
    const LayerSpec*& first_of_type = l.attention == AttentionType::kSliding ? sliding : global;
    if (first_of_type == nullptr) first_of_type = &l;
    const LayerSpec& same_type = l.attention == AttentionType::kSliding ? *sliding : *global;
    if (l.head_dim != (gemma4 ? same_type.head_dim : first.head_dim)) {
      Fail(source.path, ": layers of different head sizes cannot be written to GGUF yet");
    }
    if (gemma4 && l.rope_linear_factor != 1.0f) {
      Fail(source.path, ": Gemma 4 RoPE scaling cannot be written to GGUF yet");
    }
  }
  w.SetString("general.architecture", spec.architecture);
  w.SetString("general.name", source.hf_config.value("_name_or_path", "gemma"));
  w.SetU32(key("max_position_embeddings"), spec.context_length);
  w.SetU32(key("hidden_size"), spec.hidden_size);
  w.SetU32(key("num_hidden_layers"), spec.num_layers());
  // Gemma 3n's converter writes intermediate_size as config.json has it: a
  // list (the released E2B/E4B list one width per layer, all equal) becomes
  // an array even when every entry is the same.
  set_per_layer("intermediate_size", &LayerSpec::intermediate_size,
                gemma3n && text_config.contains("intermediate_size") &&
                    text_config.at("intermediate_size").is_array());
  set_per_layer("num_attention_heads", &LayerSpec::num_attention_heads);
  set_per_layer("num_key_value_heads", &LayerSpec::num_key_value_heads);
  if (gemma4) {
    // As llama.cpp's converter: key_length (and the RoPE dimensions) for the
    // global layers, *_swa for the sliding ones; V heads as wide as K heads.
    const int global_dim = (global ? global : sliding)->head_dim;
    const int sliding_dim = (sliding ? sliding : global)->head_dim;
    w.SetU32(a + "attention.key_length", global_dim);
    w.SetU32(a + "attention.value_length", global_dim);
    w.SetU32(a + "attention.key_length_swa", sliding_dim);
    w.SetU32(a + "attention.value_length_swa", sliding_dim);
    w.SetU32(a + "rope.dimension_count", global_dim);
    w.SetU32(a + "rope.dimension_count_swa", sliding_dim);
    if (first.moe()) {
      w.SetU32(key("num_experts"), first.num_experts);
      w.SetU32(key("top_k_experts"), first.num_experts_per_token);
      w.SetU32(key("moe_intermediate_size"), first.expert_intermediate_size);
    }
  } else {
    w.SetU32(key("head_dim"), first.head_dim);
    w.SetU32(a + "attention.value_length", first.head_dim);  // V heads as wide as K heads
  }
  if (gemma3n || gemma4) {
    // The sliding pattern (true = sliding), the KV-sharing layers' count and
    // the per-layer embeddings' width, which both converters write.
    std::vector<double> pattern;
    int shared = 0;
    for (const LayerSpec& l : spec.layers) {
      pattern.push_back(l.attention == AttentionType::kSliding);
      shared += l.kv_source_layer >= 0;
    }
    w.SetValue(*GgufKeyFor(spec.architecture, "layer_types"),
               NumberArray(GgufType::kBool, std::move(pattern)));
    w.SetU32(key("num_kv_shared_layers"), shared);
    w.SetU32(key("hidden_size_per_layer_input"), spec.per_layer_input_size);
  }
  if (gemma3n) {
    // AltUp's stream count (1: none) and active stream, and the sparsity
    // cut-off per layer as the converter computes it from config.json's p:
    // torch's float32 Normal(0, 1).icdf(p), the value the builder derived
    // (gemma3n.cc NormalQuantile, 1.6448533 for p = 0.95), and icdf(0) = -inf
    // for a dense layer.
    w.SetU32(key("altup_active_idx"), spec.altup_active_idx);
    w.SetU32(key("altup_num_inputs"), std::max(spec.altup_num_inputs, 1));
    std::vector<double> sparsity_scale;
    for (const LayerSpec& l : spec.layers) {
      sparsity_scale.push_back(l.activation_sparsity ? l.activation_sparsity_stddevs
                                                     : -std::numeric_limits<double>::infinity());
    }
    w.SetValue(key("activation_sparsity_scale"),
               NumberArray(GgufType::kF32, std::move(sparsity_scale)));
  }
  w.SetF32(key("rms_norm_eps"), spec.rms_norm_eps);
  float global_theta = first.rope_theta, local_theta = 0, factor = 1;
  for (const LayerSpec& l : spec.layers) {
    if (l.attention == AttentionType::kSliding) {
      w.SetU32(key("sliding_window"), l.sliding_window);
      local_theta = l.rope_theta;
      if (first.attn_logit_softcap > 0)
        w.SetF32(key("attn_logit_softcapping"), first.attn_logit_softcap);
    } else {
      global_theta = l.rope_theta;
      factor = l.rope_linear_factor;
    }
  }
  w.SetF32(key("rope_theta"), global_theta);
  if ((spec.architecture == "gemma3" || gemma3n || gemma4) && local_theta > 0)
    w.SetF32(key("rope_local_base_freq"), local_theta);
  if (factor != 1.0f) {
    w.SetString(key("rope_scaling.rope_type"), "linear");
    w.SetF32(key("rope_scaling.factor"), factor);
  }
  if (spec.final_logit_softcap > 0)
    w.SetF32(key("final_logit_softcapping"), spec.final_logit_softcap);

  const Tokenizer tokenizer = LoadTokenizer(source, "");
  CheckTokenizerMatchesModel(tokenizer, spec, source.path);
  const VocabData& vocab = tokenizer.vocab();
  // As llama.cpp's converter: exactly one piece per embedding row, pieces past
  // the rows dropped (Gemma 3's <image_soft_token>), missing ones padded.
  const size_t rows = static_cast<size_t>(spec.vocab_size);
  std::vector<std::string> pieces(rows);
  std::vector<double> scores(rows, 0.0), types(rows, static_cast<double>(TokenType::kUnused));
  for (size_t i = 0; i < rows; ++i) {
    if (i >= vocab.pieces.size()) {
      pieces[i] = "[PAD" + std::to_string(i) + "]";
      continue;
    }
    pieces[i] = vocab.pieces[i];
    if (i < vocab.scores.size()) scores[i] = vocab.scores[i];
    types[i] = static_cast<double>(vocab.types[i]);
  }
  w.SetString("tokenizer.ggml.model", "llama");
  w.SetString("tokenizer.ggml.pre", "default");
  w.SetValue("tokenizer.ggml.tokens", StringArray(std::move(pieces)));
  w.SetValue("tokenizer.ggml.scores", NumberArray(GgufType::kF32, scores));
  w.SetValue("tokenizer.ggml.token_type", NumberArray(GgufType::kI32, types));
  w.SetU32("tokenizer.ggml.bos_token_id", vocab.bos_id);
  w.SetU32("tokenizer.ggml.eos_token_id", vocab.eos_id);
  w.SetU32("tokenizer.ggml.unknown_token_id", vocab.unk_id);
  w.SetU32("tokenizer.ggml.padding_token_id", vocab.pad_id);
  w.SetBool("tokenizer.ggml.add_bos_token", true);
  w.SetBool("tokenizer.ggml.add_eos_token", false);
  w.SetBool("tokenizer.ggml.add_space_prefix", false);
  // As llama.cpp's converter: the folder's chat template travels with the file.
  if (const ChatTemplate chat = ReadChatTemplate(source); !chat.text.empty()) {
    w.SetString("tokenizer.chat_template", chat.text);
  }
}

}  // namespace

namespace {

bool IsFloatType(DType type) {
  return type == DType::kF32 || type == DType::kF16 || type == DType::kBF16;
}

// Output bytes per piece of a matrix: small enough that a piece (and the
// input rows behind it) is a sliver of a large tensor, large enough that the
// pool's threads each get many rows.
constexpr size_t kPieceBytes = size_t{16} << 20;

// A tensor of the output file and the model tensors it holds, in order: one,
// or the parts GGUF stacks into one tensor along a new outermost dimension
// (Gemma 3n's AltUp projections, one tensor per stream in HF checkpoints, as
// llama.cpp's converter stacks them).
struct OutputTensor {
  std::string name;
  DType type;
  std::vector<int64_t> shape;
  std::vector<const ModelTensor*> parts;
};

std::vector<OutputTensor> PlanOutputTensors(const std::vector<ModelTensor>& tensors,
                                            const FileType& ft, const ModelSpec& spec, bool tied) {
  std::vector<OutputTensor> out;
  for (const ModelTensor& t : tensors) {
    const bool part = t.row->gguf == nullptr;
    if (part && t.gguf_name.empty()) {
      Fail(t.entry->file, ": tensor '", t.entry->name, "' has no GGUF counterpart");
    }
    if (part && !out.empty() && out.back().name == t.gguf_name) {
      out.back().parts.push_back(&t);
      ++out.back().shape.front();
      continue;
    }
    OutputTensor o{t.gguf_name, ChooseType(ft, t, spec, tied), t.shape, {&t}};
    if (part) o.shape.insert(o.shape.begin(), 1);
    out.push_back(std::move(o));
  }
  // A stack must have the whole's shape (all K - 1 AltUp projections): the
  // parts' rows are optional one by one, and a short stack would make a
  // file no reader accepts. (Parts are model-level rows: tensor_rows.h.)
  for (const OutputTensor& o : out) {
    if (o.parts.front()->row->gguf != nullptr) continue;
    for (const TensorRow& whole : GenerationOf(spec).rows) {
      if (whole.gguf == nullptr || o.name != whole.gguf) continue;
      if (const std::vector<int64_t> shape = RowShape(whole, spec, -1); shape != o.shape) {
        Fail(o.parts.front()->entry->file, ": ", o.parts.size(), " tensors for '", o.name,
             "' where the model has ", shape.front(), " (", o.parts.front()->entry->name, ", ...)");
      }
    }
  }
  return out;
}

}  // namespace

namespace {

const FileType& FindFileType(const std::string& type) {
  // Either case, as llama-quantize takes "Q4_K_M" and "q4_k_m".
  std::string lower = type;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const FileType& f : kFileTypes) {
    if (lower == f.name) return f;
  }
  Fail("unknown quantization type '", type,
       "' (choose q8_0, q4_0, q4_1, q5_0, q5_1, q4_k_m, q5_k_m, q6_k, bf16, f16, f32)");
}

// Where the values written come from: the input model's tensors (quantize),
// or a generator (WriteRandomModel).
class TensorValues {
 public:
  using RowReader = std::function<void(int64_t row, float* out)>;
  virtual ~TensorValues() = default;
  // A norm's effective gain, as GGUF stores it.
  virtual std::vector<float> Gain(const ModelTensor& t) const = 0;
  // The rows of a matrix (a 3-D tensor's rows as one matrix), as f32.
  virtual RowReader Rows(const ModelTensor& t) const = 0;
  // Rows [r0, r0 + rows) of t, or all of it, are written.
  virtual void Written(const ModelTensor& t, int64_t r0, int64_t rows) const = 0;
  virtual void Written(const ModelTensor& t) const = 0;
};

// The input file's values. Pages of the input that are written are handed
// back to the OS (they stay in the page cache), so the peak is the metadata
// plus a piece, not the model.
class FileValues final : public TensorValues {
 public:
  explicit FileValues(const ModelSource& source) : source_(source) {}
  std::vector<float> Gain(const ModelTensor& t) const override { return EffectiveGain(t); }
  RowReader Rows(const ModelTensor& t) const override {
    const WeightMatrix m = AsMatrix(t);
    return [m](int64_t row, float* out) { DequantizeRow(m, row, out); };
  }
  void Written(const ModelTensor& t, int64_t r0, int64_t rows) const override {
    const WeightMatrix m = AsMatrix(t);
    Release(m.Row(r0), static_cast<size_t>(rows) * m.row_bytes);
  }
  void Written(const ModelTensor& t) const override { Release(t.entry->data, t.entry->size_bytes); }

 private:
  void Release(const uint8_t* data, size_t size) const {
    for (const auto& file : source_.mappings) file->ReleasePages(data, size);
  }
  const ModelSource& source_;
};

// Writes `tensors` (with the source's metadata) as a GGUF file of type ft,
// their values from `values`.
void WriteModel(const ModelSource& source, const ModelSpec& spec,
                const std::vector<ModelTensor>& tensors, const FileType& ft,
                const TensorValues& values, const std::string& output, int threads,
                const std::function<void(const QuantizeProgress&)>& progress) {
  GgufWriter writer;
  if (source.format == ModelFormat::kGguf) {
    for (const auto& [key, value] : source.gguf->metadata()) writer.SetValue(key, value);
  } else {
    WriteHfMetadata(source, spec, writer);
  }
  writer.SetU32("general.file_type", ft.llama_ftype);
  writer.SetU32("general.quantization_version", 2);

  bool tied = true;
  for (const ModelTensor& t : tensors) {
    tied = tied && t.row->member != TensorBinding(&ModelWeights::output_head);
  }
  // Gemma 4 from a checkpoint folder: the global layers' proportional RoPE
  // as llama.cpp's converter writes it, a divisor per frequency pair.
  const std::vector<float> rope_freqs =
      source.format == ModelFormat::kGguf ? std::vector<float>{} : Gemma4RopeFreqs(spec);
  if (!rope_freqs.empty()) {
    writer.DeclareTensor("rope_freqs.weight", DType::kF32,
                         {static_cast<int64_t>(rope_freqs.size())});
  }
  const std::vector<OutputTensor> planned = PlanOutputTensors(tensors, ft, spec, tied);
  for (const OutputTensor& o : planned) writer.DeclareTensor(o.name, o.type, o.shape);

  // Tensor by tensor, a matrix in pieces of rows: only a piece is in memory
  // at a time.
  GgufStreamWriter out(writer, output);
  ThreadPool pool(ChooseThreadCount(threads).threads);
  QuantizeProgress p;
  p.tensors_total = planned.size();
  if (!rope_freqs.empty()) {
    out.Append(reinterpret_cast<const uint8_t*>(rope_freqs.data()),
               rope_freqs.size() * sizeof(float));
    p.bytes_out += rope_freqs.size() * sizeof(float);
  }
  std::vector<uint8_t> bytes;
  for (const OutputTensor& o : planned) {
    for (const ModelTensor* part : o.parts) {
      const ModelTensor& t = *part;
      if (t.is_norm) {
        // As GGUF stores it: the gain, in f32 (or, for a matrix read as an
        // f32 copy like Gemma 3n's AltUp router, in the file's float type).
        const std::vector<float> gain = values.Gain(t);
        bytes.resize(BytesFor(o.type, static_cast<int64_t>(gain.size())));
        QuantizeRowRef(o.type, gain.data(), bytes.data(), static_cast<int64_t>(gain.size()));
        out.Append(bytes.data(), bytes.size());
        p.bytes_out += bytes.size();
      } else {
        const int64_t cols = t.shape.back();
        int64_t total_rows = 1;
        for (size_t d = 0; d + 1 < t.shape.size(); ++d) total_rows *= t.shape[d];
        const TensorValues::RowReader read = values.Rows(t);
        const size_t out_row = BytesFor(o.type, cols);
        const int64_t piece_rows =
            std::max<int64_t>(1, static_cast<int64_t>(kPieceBytes / out_row));
        std::vector<std::vector<float>> scratch(pool.num_threads(),
                                                std::vector<float>(static_cast<size_t>(cols)));
        for (int64_t r0 = 0; r0 < total_rows; r0 += piece_rows) {
          const int64_t rows = std::min(piece_rows, total_rows - r0);
          bytes.resize(static_cast<size_t>(rows) * out_row);
          pool.ParallelFor(
              static_cast<size_t>(rows), 16, [&](size_t begin, size_t end, int thread) {
                for (size_t r = begin; r < end; ++r) {
                  read(r0 + static_cast<int64_t>(r), scratch[thread].data());
                  QuantizeRowRef(o.type, scratch[thread].data(), bytes.data() + r * out_row, cols);
                }
              });
          out.Append(bytes.data(), bytes.size());
          values.Written(t, r0, rows);
          p.bytes_out += bytes.size();
        }
      }
      values.Written(t);
      p.bytes_in += t.entry->size_bytes;
    }
    ++p.tensors_done;
    p.tensor = o.name + " -> " + std::string(Name(o.type));
    if (progress) progress(p);
  }
  out.Finish();
}

// Random values, the same for a given seed and tensor name whatever the
// thread count: each row's generator is seeded from (seed, name, row).
// Matrices uniform with the standard deviation of Gemma's initializer (0.02),
// gains 1 +- 0.1. Only the shapes matter to what these files are for
// (benchmarks at real sizes), but the values must not be degenerate: a
// router of zeros would send every token to the same experts.
class RandomValues final : public TensorValues {
 public:
  explicit RandomValues(uint64_t seed) : seed_(seed) {}
  std::vector<float> Gain(const ModelTensor& t) const override {
    std::vector<float> gain(static_cast<size_t>(t.entry->elements()));
    Fill(Key(t, -1), 1.0f, 0.1f, gain.data(), static_cast<int64_t>(gain.size()));
    return gain;
  }
  RowReader Rows(const ModelTensor& t) const override {
    const uint64_t key = Key(t, 0);
    const int64_t cols = t.shape.back();
    return [key, cols](int64_t row, float* out) {
      Fill(key ^ Mix(static_cast<uint64_t>(row) + 1), 0.0f, 0.0346f, out, cols);
    };
  }
  void Written(const ModelTensor&, int64_t, int64_t) const override {}
  void Written(const ModelTensor&) const override {}

 private:
  static uint64_t Mix(uint64_t x) {  // splitmix64's finalizer
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  }
  uint64_t Key(const ModelTensor& t, int salt) const {
    uint64_t h = Mix(seed_ + static_cast<uint64_t>(salt + 2));
    for (const char c : t.entry->name) h = Mix(h ^ static_cast<uint8_t>(c));
    return h;
  }
  // Uniform in [center - half, center + half).
  static void Fill(uint64_t state, float center, float half, float* out, int64_t n) {
    state = Mix(state) | 1;
    for (int64_t i = 0; i < n; ++i) {
      state ^= state << 13;  // xorshift64
      state ^= state >> 7;
      state ^= state << 17;
      const float unit = static_cast<float>(state >> 40) * (1.0f / 16777216.0f);
      out[i] = center + half * (2.0f * unit - 1.0f);
    }
  }
  uint64_t seed_;
};

}  // namespace

void WriteQuantizedModel(const std::string& input, const std::string& output,
                         const std::string& type, int threads,
                         const std::function<void(const QuantizeProgress&)>& progress,
                         bool allow_requantize) {
  const FileType& ft = FindFileType(type);
  const ModelSource source = OpenModelSource(input);
  const ModelSpec spec = BuildModelSpec(source);
  // The tensors the model reads, then those the file carries unread (Gemma
  // 3n's KV-sharing layers' k/v), which llama.cpp's tools keep as well.
  std::vector<ModelTensor> tensors = ListModelTensors(source, spec);
  for (ModelTensor& t : ListUnreadTensors(source, spec)) tensors.push_back(std::move(t));

  // Quantizing quantized weights again compounds the rounding of both steps:
  // as llama-quantize, only on request (writing f32/f16/bf16 loses nothing).
  if (!IsFloatType(ft.base) && !allow_requantize) {
    for (const ModelTensor& t : tensors) {
      if (!t.is_norm && !IsFloatType(t.entry->type)) {
        Fail(input, ": its weights are already quantized ('", t.entry->name, "' is ",
             Name(t.entry->type), "); quantizing them again to ", ft.name,
             " adds the rounding of both steps. Start from the f16/bf16 original, or pass "
             "--allow-requantize");
      }
    }
  }
  WriteModel(source, spec, tensors, ft, FileValues(source), output, threads, progress);
}

void WriteRandomModel(const std::string& config_path, const std::string& tokenizer_path,
                      const std::string& output, const std::string& type, uint64_t seed,
                      int threads, const std::function<void(const QuantizeProgress&)>& progress) {
  const FileType& ft = FindFileType(type);
  // A checkpoint folder in all but its weights: the config and a tokenizer,
  // and a catalog of tensors with shapes and no bytes.
  ModelSource source;
  source.format = ModelFormat::kHuggingFace;
  source.path = config_path;
  source.hf_config = ParseJsonText(ReadFileToString(config_path), config_path);
  if (tokenizer_path.ends_with(".json")) {
    source.tokenizer_json_path = tokenizer_path;
  } else {
    source.tokenizer_model_path = tokenizer_path;
  }
  const nlohmann::json& text =
      source.hf_config.contains("text_config") && source.hf_config["text_config"].is_object()
          ? source.hf_config["text_config"]
          : source.hf_config;
  const JsonObject decoder(text, config_path);
  const int64_t vocab = decoder.Integer("vocab_size", 1, int64_t{1} << 24).value_or(0);
  const int64_t hidden = decoder.Integer("hidden_size", 1, int64_t{1} << 20).value_or(0);
  if (vocab <= 0 || hidden <= 0) Fail(config_path, ": needs vocab_size and hidden_size");
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    TensorEntry e;
    e.name = name;
    e.type = DType::kBF16;
    e.shape = std::move(shape);
    e.size_bytes = static_cast<size_t>(e.elements()) * 2;
    e.file = "random";
    source.tensors.Add(std::move(e));
  };
  // The embedding first: the spec takes the vocabulary from its rows.
  add("model.embed_tokens.weight", {vocab, hidden});
  const ModelSpec spec = BuildModelSpec(source);
  const TensorNamer namer(source);
  for (const TensorRow& row : GenerationOf(spec).rows) {
    // Optional rows are left out (a separate output head), but for the parts
    // of a tensor GGUF stacks (Gemma 3n's AltUp projections), which a
    // checkpoint always has.
    if (row.hf == nullptr || (row.presence == Presence::kOptional && row.gguf != nullptr)) {
      continue;
    }
    auto wanted = [&](int layer) {
      return row.presence != Presence::kWhen || row.when(spec.layers[layer]);
    };
    if (row.per_layer()) {
      for (int layer = 0; layer < spec.num_layers(); ++layer) {
        if (wanted(layer)) add(namer.Name(row, layer), RowShape(row, spec, layer));
      }
    } else {
      bool any = false;
      for (int layer = 0; layer < spec.num_layers(); ++layer) any = any || wanted(layer);
      const std::string name = namer.Name(row, -1);
      if (any && source.tensors.Find(name) == nullptr) add(name, RowShape(row, spec, -1));
    }
  }
  WriteModel(source, spec, ListModelTensors(source, spec), ft, RandomValues(seed), output, threads,
             progress);
}

Status QuantizeModel(const std::string& input, const std::string& output, const std::string& type,
                     int threads, const std::function<void(const QuantizeProgress&)>& progress,
                     bool allow_requantize) {
  return Guarded([&] {
    WriteQuantizedModel(input, output, type, threads, progress, allow_requantize);
    return Status();
  });
}

}  // namespace gemma
