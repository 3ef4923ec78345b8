// Writes small GGUF models as seeds for gguf_fuzz (scripts/fuzz.sh runs it):
// Gemma 1, 2 and 3 with one or two layers, hidden size 32 and a 16-piece
// vocabulary, in several weight types. A few kilobytes each, so the fuzzer
// spends its time in the loader rather than copying the repository's
// models (hundreds of kilobytes) around, and every architecture's keys and
// tensor names are in the corpus from the start.
//
//   make_gguf_seeds OUTPUT_DIR
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "base/error.h"
#include "io/gguf_writer.h"
#include "quant/quant.h"

namespace {

using gemma::DType;

constexpr int kHidden = 32;  // one block of the 32-element formats per row
constexpr int kHeadDim = 32;

struct Variant {
  const char* file;
  const char* arch;  // "gemma", "gemma2" or "gemma3"
  int layers;
  int heads;
  int kv_heads;
  DType weights;  // the matrices' type (norms stay f32)
  // The K-quants' blocks hold 256 elements: a model with one of them for
  // ffn_down (its rows are ffn wide) has an ffn of 256.
  int ffn = 32;
  DType down = weights;
};

// Deterministic weights: small values in (-0.1, 0.1), and norms near 1.
std::vector<float> Values(int64_t n, uint32_t seed, bool norm) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t x = seed * 2654435761u + 1;
  for (float& f : v) {
    x = x * 1664525u + 1013904223u;
    const float unit = static_cast<float>(x >> 8) / static_cast<float>(1 << 24) - 0.5f;
    f = norm ? 1.0f + 0.2f * unit : 0.2f * unit;
  }
  return v;
}

void AddTensor(gemma::GgufWriter& out, const std::string& name, DType type,
               std::vector<int64_t> shape, bool norm) {
  int64_t n = 1;
  for (const int64_t d : shape) n *= d;
  const std::vector<float> values =
      Values(n, static_cast<uint32_t>(std::hash<std::string>()(name)), norm);
  std::vector<uint8_t> bytes(gemma::BytesFor(type, n));
  const int64_t row = shape.back();
  for (int64_t r = 0; r < n / row; ++r) {
    gemma::QuantizeRowRef(type, values.data() + r * row,
                          bytes.data() + gemma::BytesFor(type, r * row), row);
  }
  out.AddTensor(name, type, shape, std::move(bytes));
}

void SetTokenizer(gemma::GgufWriter& out) {
  const std::vector<std::string> pieces = {"<pad>",
                                           "<eos>",
                                           "<bos>",
                                           "<unk>",
                                           "<start_of_turn>",
                                           "<end_of_turn>",
                                           "\n",
                                           "\xE2\x96\x81",
                                           "a",
                                           "b",
                                           "c",
                                           "\xE2\x96\x81"
                                           "a",
                                           "ab",
                                           "<0x00>",
                                           "<0xFF>",
                                           "\xE2\x96\x81\xE2\x96\x81"};
  // SentencePiece types: 1 normal, 2 unknown, 3 control, 6 byte.
  const std::vector<double> types = {3, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 6, 6, 1};
  gemma::GgufValue tokens;
  tokens.type = gemma::GgufType::kArray;
  tokens.array_type = gemma::GgufType::kString;
  tokens.strings = pieces;
  tokens.array_size = pieces.size();
  out.SetValue("tokenizer.ggml.tokens", tokens);
  gemma::GgufValue scores;
  scores.type = gemma::GgufType::kArray;
  scores.array_type = gemma::GgufType::kF32;
  for (size_t i = 0; i < pieces.size(); ++i)
    scores.numbers.push_back(types[i] == 1 ? -1.0 * i : 0.0);
  scores.array_size = pieces.size();
  out.SetValue("tokenizer.ggml.scores", scores);
  gemma::GgufValue token_types;
  token_types.type = gemma::GgufType::kArray;
  token_types.array_type = gemma::GgufType::kI32;
  token_types.numbers = types;
  token_types.array_size = pieces.size();
  out.SetValue("tokenizer.ggml.token_type", token_types);
  out.SetString("tokenizer.ggml.model", "llama");
  out.SetU32("tokenizer.ggml.bos_token_id", 2);
  out.SetU32("tokenizer.ggml.eos_token_id", 1);
  out.SetU32("tokenizer.ggml.padding_token_id", 0);
  out.SetBool("tokenizer.ggml.add_bos_token", true);
}

void Write(const Variant& v, const std::string& dir) {
  gemma::GgufWriter out;
  const std::string arch = v.arch;
  const bool gemma2 = arch == "gemma2", gemma3 = arch == "gemma3";
  out.SetString("general.architecture", arch);
  out.SetU32(arch + ".context_length", 64);
  out.SetU32(arch + ".embedding_length", kHidden);
  out.SetU32(arch + ".block_count", static_cast<uint32_t>(v.layers));
  out.SetU32(arch + ".feed_forward_length", static_cast<uint32_t>(v.ffn));
  out.SetU32(arch + ".attention.head_count", static_cast<uint32_t>(v.heads));
  out.SetU32(arch + ".attention.head_count_kv", static_cast<uint32_t>(v.kv_heads));
  out.SetF32(arch + ".attention.layer_norm_rms_epsilon", 1e-6f);
  out.SetU32(arch + ".attention.key_length", kHeadDim);
  out.SetU32(arch + ".attention.value_length", kHeadDim);
  if (gemma2 || gemma3) out.SetU32(arch + ".attention.sliding_window", 4);
  if (gemma2) {
    out.SetF32(arch + ".attn_logit_softcapping", 50.0f);
    out.SetF32(arch + ".final_logit_softcapping", 30.0f);
  }
  if (gemma3) out.SetF32(arch + ".rope.freq_base", 1e6f);
  SetTokenizer(out);

  AddTensor(out, "token_embd.weight", v.weights, {16, kHidden}, false);
  for (int l = 0; l < v.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    AddTensor(out, p + "attn_norm.weight", DType::kF32, {kHidden}, true);
    AddTensor(out, p + "attn_q.weight", v.weights, {v.heads * kHeadDim, kHidden}, false);
    AddTensor(out, p + "attn_k.weight", v.weights, {v.kv_heads * kHeadDim, kHidden}, false);
    AddTensor(out, p + "attn_v.weight", v.weights, {v.kv_heads * kHeadDim, kHidden}, false);
    AddTensor(out, p + "attn_output.weight", v.weights, {kHidden, v.heads * kHeadDim}, false);
    AddTensor(out, p + "ffn_norm.weight", DType::kF32, {kHidden}, true);
    AddTensor(out, p + "ffn_gate.weight", v.weights, {v.ffn, kHidden}, false);
    AddTensor(out, p + "ffn_up.weight", v.weights, {v.ffn, kHidden}, false);
    AddTensor(out, p + "ffn_down.weight", v.down, {kHidden, v.ffn}, false);
    if (gemma2 || gemma3) {
      AddTensor(out, p + "post_attention_norm.weight", DType::kF32, {kHidden}, true);
      AddTensor(out, p + "post_ffw_norm.weight", DType::kF32, {kHidden}, true);
    }
    if (gemma3) {
      AddTensor(out, p + "attn_q_norm.weight", DType::kF32, {kHeadDim}, true);
      AddTensor(out, p + "attn_k_norm.weight", DType::kF32, {kHeadDim}, true);
    }
  }
  AddTensor(out, "output_norm.weight", DType::kF32, {kHidden}, true);
  out.Write(dir + "/" + v.file);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_gguf_seeds OUTPUT_DIR\n");
    return 2;
  }
  const Variant variants[] = {
      {"gemma3-q8_0.gguf", "gemma3", 1, 1, 1, DType::kQ8_0},
      {"gemma3-q4_0.gguf", "gemma3", 1, 1, 1, DType::kQ4_0},
      {"gemma3-q4_1.gguf", "gemma3", 1, 1, 1, DType::kQ4_1},
      {"gemma3-q5_0.gguf", "gemma3", 1, 1, 1, DType::kQ5_0},
      {"gemma3-f16.gguf", "gemma3", 1, 1, 1, DType::kF16},
      {"gemma3-bf16.gguf", "gemma3", 1, 1, 1, DType::kBF16},
      {"gemma2-q8_0.gguf", "gemma2", 2, 2, 1, DType::kQ8_0},
      {"gemma-q4_0.gguf", "gemma", 1, 2, 1, DType::kQ4_0},
      {"gemma3-q4_k.gguf", "gemma3", 1, 1, 1, DType::kQ8_0, 256, DType::kQ4_K},
      {"gemma3-q6_k.gguf", "gemma3", 1, 1, 1, DType::kQ8_0, 256, DType::kQ6_K},
  };
  try {
    for (const Variant& v : variants) Write(v, argv[1]);
  } catch (const gemma::Error& e) {
    std::fprintf(stderr, "make_gguf_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
