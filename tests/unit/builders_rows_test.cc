// The per-generation builders and their tensor rows (src/model/gemma*.cc):
// the rows claim every tensor of the golden files in both formats, GGUF and
// HF give the same spec, per-layer arrays in GGUF metadata reach the layers
// they name, and `gemma info` shows each layer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include "gemma/gemma.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/model_source.h"
#include "model/generation.h"
#include "model/tensor_rows.h"
#include "testing/cli_runner.h"
#include "testing/golden_case.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

const char* const kCases[] = {"gemma1_mqa",    "gemma2_swa",   "gemma3_h256",
                              "gemma3_qknorm", "gemma4_dense", "gemma4_e2b"};

std::string Gguf(const std::string& c, const std::string& t) {
  return testing::GoldenDir(c) + "/gguf/" + c + "." + t + ".gguf";
}
std::string Hf(const std::string& c) { return testing::GoldenDir(c) + "/hf"; }

// Every tensor of every golden file is read through exactly one row, in both
// formats: the set of names the rows resolve to is the file's set.
TEST(TensorRows, ClaimEveryTensorOfTheGoldenFiles) {
  for (const char* c : kCases) {
    for (const std::string& path : {Gguf(c, "q8_0"), Gguf(c, "q4_0"), Hf(c)}) {
      const ModelSource source = OpenModelSource(path);
      const ModelSpec spec = BuildModelSpec(source);
      std::set<std::string> listed, in_file;
      for (const ModelTensor& t : ListModelTensors(source, spec)) {
        EXPECT_TRUE(listed.insert(t.entry->name).second) << path << ": twice " << t.entry->name;
      }
      for (const auto& [name, entry] : source.tensors.entries()) in_file.insert(name);
      EXPECT_EQ(listed, in_file) << path;
    }
  }
}

// The builders read both formats through one vocabulary: every field of the
// spec, every row's GGUF name and shape, agree between a case's GGUF and HF.
TEST(Builders, GgufAndHfGiveTheSameModel) {
  for (const char* c : kCases) {
    const ModelSource gguf = OpenModelSource(Gguf(c, "bf16"));
    const ModelSource hf = OpenModelSource(Hf(c));
    const ModelSpec g = BuildModelSpec(gguf), h = BuildModelSpec(hf);
    EXPECT_EQ(g.architecture, h.architecture) << c;
    EXPECT_EQ(g.vocab_size, h.vocab_size) << c;
    EXPECT_EQ(g.hidden_size, h.hidden_size) << c;
    EXPECT_EQ(g.context_length, h.context_length) << c;
    EXPECT_EQ(g.rms_norm_eps, h.rms_norm_eps) << c;
    EXPECT_EQ(g.embedding_scale, h.embedding_scale) << c;
    EXPECT_EQ(g.final_logit_softcap, h.final_logit_softcap) << c;
    EXPECT_EQ(g.bos_id, h.bos_id) << c;
    EXPECT_EQ(g.eos_id, h.eos_id) << c;
    EXPECT_EQ(g.per_layer_input_size, h.per_layer_input_size) << c;
    EXPECT_EQ(g.per_layer_vocab_size, h.per_layer_vocab_size) << c;
    ASSERT_EQ(g.num_layers(), h.num_layers()) << c;
    for (int i = 0; i < g.num_layers(); ++i) {
      const LayerSpec &a = g.layers[i], &b = h.layers[i];
      const std::string at = std::string(c) + " layer " + std::to_string(i);
      EXPECT_EQ(a.attention, b.attention) << at;
      EXPECT_EQ(a.sliding_window, b.sliding_window) << at;
      EXPECT_EQ(a.num_attention_heads, b.num_attention_heads) << at;
      EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads) << at;
      EXPECT_EQ(a.head_dim, b.head_dim) << at;
      EXPECT_EQ(a.intermediate_size, b.intermediate_size) << at;
      EXPECT_EQ(a.query_scale, b.query_scale) << at;
      EXPECT_EQ(a.attn_logit_softcap, b.attn_logit_softcap) << at;
      EXPECT_EQ(a.rope_theta, b.rope_theta) << at;
      EXPECT_EQ(a.rope_linear_factor, b.rope_linear_factor) << at;
      EXPECT_EQ(a.rope_partial_factor, b.rope_partial_factor) << at;
      EXPECT_EQ(a.qk_norm, b.qk_norm) << at;
      EXPECT_EQ(a.value_norm, b.value_norm) << at;
      EXPECT_EQ(a.k_eq_v, b.k_eq_v) << at;
      EXPECT_EQ(a.sandwich_norms, b.sandwich_norms) << at;
      EXPECT_EQ(a.layer_scalar, b.layer_scalar) << at;
      EXPECT_EQ(a.kv_source_layer, b.kv_source_layer) << at;
      EXPECT_EQ(a.per_layer_input, b.per_layer_input) << at;
    }
    // The tensors both formats have (GGUF's rope_freqs is GGUF's own).
    std::vector<ModelTensor> tg = ListModelTensors(gguf, g);
    const std::vector<ModelTensor> th = ListModelTensors(hf, h);
    std::erase_if(tg, [](const ModelTensor& t) { return t.row->hf == nullptr; });
    ASSERT_EQ(tg.size(), th.size()) << c;
    const float hf_offset = GenerationOf(h).hf_norm_offset;
    for (size_t i = 0; i < tg.size(); ++i) {
      EXPECT_EQ(tg[i].gguf_name, th[i].gguf_name) << c;
      EXPECT_EQ(tg[i].shape, th[i].shape) << c << " " << tg[i].gguf_name;
      // GGUF holds the gain (1 + w), HF checkpoints of Gemma 1-3 hold w
      // (Gemma 4's the gain).
      EXPECT_EQ(tg[i].gain_offset, 0.0f) << tg[i].gguf_name;
      EXPECT_EQ(th[i].gain_offset, th[i].is_norm ? hf_offset : 0.0f) << th[i].gguf_name;
    }
  }
}

// What each generation's rows say, checked against the shared spec's tensor
// tables (weight-formats.md B.5) and llama.cpp's quantizer rules.
TEST(TensorRows, RowsOfEachGeneration) {
  for (const Generation* g : Generations()) {
    std::set<std::string> gguf_names, hf_names;
    for (const TensorRow& row : g->rows) {
      if (row.gguf == nullptr) {
        // A part of a tensor GGUF stores whole (Gemma 3n's AltUp projections,
        // one per stream in HF checkpoints): model level, HF only, never
        // quantized, as the whole.
        ASSERT_NE(row.hf, nullptr) << g->gguf_architecture;
        EXPECT_TRUE(hf_names.insert(row.hf).second) << g->gguf_architecture << ": " << row.hf;
        EXPECT_FALSE(row.per_layer()) << row.hf;
        EXPECT_EQ(row.quant, QuantRule::kNeverQuantized) << row.hf;
        continue;
      }
      const std::string gguf = row.gguf;
      EXPECT_TRUE(gguf_names.insert(gguf).second) << g->gguf_architecture << ": twice " << gguf;
      if (row.hf != nullptr) {
        EXPECT_TRUE(hf_names.insert(row.hf).second) << g->gguf_architecture << ": " << row.hf;
        EXPECT_EQ(std::string(row.hf).find("%d") != std::string::npos, row.per_layer()) << row.hf;
      }
      EXPECT_EQ(gguf.find("%d") != std::string::npos, row.per_layer()) << gguf;
      // Gemma 3n's AltUp router and coefficients: small matrices read as f32
      // copies, like gains.
      const bool altup_coefs = gguf == "blk.%d.altup_router.weight" ||
                               gguf == "blk.%d.altup_predict_coef.weight" ||
                               gguf == "blk.%d.altup_correct_coef.weight";
      // Never quantized, but written in a bf16 file's type (as the converter
      // and llama-quantize do): the per-layer embeddings' projection, and
      // Gemma 3n's AltUp projections and router and LAuReL matrices
      // (llama-quantize skips every *altup* / *laurel* tensor; the golden
      // bf16 file has them in bf16).
      const bool never_quantized =
          gguf == "per_layer_model_proj.weight" || gguf == "altup_proj.weight" ||
          gguf == "altup_unembd_proj.weight" || gguf == "blk.%d.altup_router.weight" ||
          gguf == "blk.%d.laurel_l.weight" || gguf == "blk.%d.laurel_r.weight";
      EXPECT_EQ(never_quantized, row.quant == QuantRule::kNeverQuantized) << gguf;
      // Norm gains (1-D) stay f32 in every file, as llama.cpp keeps them, and
      // so do the MoE router's projection and Gemma 3n's AltUp coefficients
      // (the converter writes those f32 whatever the output type).
      const bool f32_matrix = gguf == "blk.%d.ffn_gate_inp.weight" ||
                              gguf == "blk.%d.altup_predict_coef.weight" ||
                              gguf == "blk.%d.altup_correct_coef.weight";
      EXPECT_EQ((row.is_gain() && !never_quantized) || f32_matrix, row.quant == QuantRule::kF32)
          << gguf;
      EXPECT_EQ(row.is_gain(), row.shape[1] == Dim::kNone || altup_coefs) << gguf;
      // llama.cpp's _M mixes give attn_v and ffn_down more bits on some layers.
      const bool more_bits = gguf == "blk.%d.attn_v.weight" || gguf == "blk.%d.ffn_down.weight";
      EXPECT_EQ(row.quant == QuantRule::kMoreBits, more_bits) << gguf;
    }
    EXPECT_TRUE(gguf_names.count("token_embd.weight")) << g->gguf_architecture;
    EXPECT_TRUE(gguf_names.count("output_norm.weight")) << g->gguf_architecture;
  }
}

// A copy of a GGUF with its metadata and tensors edited.
void CopyGguf(const std::string& from, const std::string& to,
              const std::function<void(GgufWriter&)>& edit_metadata,
              const std::function<void(TensorEntry&, std::vector<uint8_t>&)>& edit_tensor) {
  GgufFile in(from);
  GgufWriter out;
  for (const auto& [key, value] : in.metadata()) out.SetValue(key, value);
  edit_metadata(out);
  for (const std::string& name : in.tensor_order()) {
    TensorEntry t = *in.tensors().Find(name);
    std::vector<uint8_t> bytes(t.data, t.data + t.size_bytes);
    edit_tensor(t, bytes);
    out.AddTensor(t.name, t.type, t.shape, std::move(bytes));
  }
  out.Write(to);
}

GgufValue I32Array(std::vector<double> numbers) {
  GgufValue v;
  v.type = GgufType::kArray;
  v.array_type = GgufType::kI32;
  v.array_size = numbers.size();
  v.numbers = std::move(numbers);
  return v;
}

std::vector<float> PromptLogits(const std::string& path) {
  auto model = Model::Open(path);
  EXPECT_TRUE(model.ok()) << model.status().message();
  if (!model.ok()) return {};
  Session session(**model);
  std::vector<float> logits;
  const std::vector<int32_t> prompt = {2, 300, 301, 302, 17, 40, 41, 42, 99, 7};
  EXPECT_TRUE(session.Append(prompt, &logits).ok());
  return logits;
}

// max |a - b| / max |b|.
double MaxRelativeDifference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return diff / scale;
}

class TempFiles {
 public:
  std::string operator()(const std::string& name) {
    paths_.push_back(
        (fs::temp_directory_path() / ("builders_rows_" + std::to_string(::getpid()) + "_" + name))
            .string());
    return paths_.back();
  }
  ~TempFiles() {
    for (const std::string& p : paths_) fs::remove(p);
  }

 private:
  std::vector<std::string> paths_;
};

// llama.cpp writes head_count_kv per layer when layers differ (Gemma 4). A
// Gemma 3 file whose last layer has one KV head instead of two (its K and V
// projections cut to head 0) must compute what the same model computes with
// two KV heads that are both head 0: every query head then reads head 0.
TEST(Builders, PerLayerKeyValueHeadsReachTheirLayer) {
  const std::string f32 = Gguf("gemma3_qknorm", "f32");
  constexpr int kHeadRows = 32;  // head_dim: the rows of one KV head in attn_k / attn_v
  auto is_last_kv = [](const std::string& name) {
    return name == "blk.5.attn_k.weight" || name == "blk.5.attn_v.weight";
  };
  TempFiles temp;
  const std::string per_layer = temp("kv_per_layer.gguf"), duplicated = temp("kv_dup.gguf");
  CopyGguf(
      f32, per_layer,
      [](GgufWriter& w) {
        w.SetValue("gemma3.attention.head_count_kv", I32Array({2, 2, 2, 2, 2, 1}));
      },
      [&](TensorEntry& t, std::vector<uint8_t>& bytes) {
        if (!is_last_kv(t.name)) return;
        t.shape[0] = kHeadRows;
        bytes.resize(bytes.size() / 2);
      });
  CopyGguf(
      f32, duplicated, [](GgufWriter&) {},
      [&](TensorEntry& t, std::vector<uint8_t>& bytes) {
        if (is_last_kv(t.name))
          std::memcpy(&bytes[bytes.size() / 2], bytes.data(), bytes.size() / 2);
      });

  const ModelSpec spec = BuildModelSpec(OpenModelSource(per_layer));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(spec.layers[i].num_key_value_heads, i == 5 ? 1 : 2);
  const std::vector<float> a = PromptLogits(per_layer), b = PromptLogits(duplicated);
  ASSERT_FALSE(a.empty());
  EXPECT_LE(MaxRelativeDifference(a, b), 1e-6);
  // And the edit matters: the original model computes something else.
  EXPECT_GT(MaxRelativeDifference(PromptLogits(f32), b), 1e-3);
}

// The same for feed_forward_length (Gemma 3n's per-layer widths, Gemma 4's
// double-wide layers): layer 0 at width 64 equals width 128 whose units
// 64..127 are zero (gelu(0) * up = 0, and their down columns are zero).
TEST(Builders, PerLayerFeedForwardWidthsReachTheirLayer) {
  const std::string f32 = Gguf("gemma3_qknorm", "f32");
  constexpr int kHidden = 64, kNarrow = 64, kWide = 128;
  TempFiles temp;
  const std::string per_layer = temp("ffn_per_layer.gguf"), zeroed = temp("ffn_zeroed.gguf");
  CopyGguf(
      f32, per_layer,
      [](GgufWriter& w) {
        w.SetValue("gemma3.feed_forward_length", I32Array({64, 128, 128, 128, 128, 128}));
      },
      [&](TensorEntry& t, std::vector<uint8_t>& bytes) {
        if (t.name == "blk.0.ffn_gate.weight" || t.name == "blk.0.ffn_up.weight") {
          t.shape[0] = kNarrow;  // the first 64 output rows
          bytes.resize(sizeof(float) * kNarrow * kHidden);
        } else if (t.name == "blk.0.ffn_down.weight") {
          t.shape[1] = kNarrow;  // the first 64 columns of each row
          std::vector<uint8_t> cut;
          for (int r = 0; r < kHidden; ++r) {
            const uint8_t* row = bytes.data() + sizeof(float) * kWide * r;
            cut.insert(cut.end(), row, row + sizeof(float) * kNarrow);
          }
          bytes = cut;
        }
      });
  CopyGguf(
      f32, zeroed, [](GgufWriter&) {},
      [&](TensorEntry& t, std::vector<uint8_t>& bytes) {
        if (t.name == "blk.0.ffn_gate.weight") {
          std::fill(bytes.begin() + sizeof(float) * kNarrow * kHidden, bytes.end(), 0);
        } else if (t.name == "blk.0.ffn_down.weight") {
          for (int r = 0; r < kHidden; ++r) {
            uint8_t* row = bytes.data() + sizeof(float) * kWide * r;
            std::fill(row + sizeof(float) * kNarrow, row + sizeof(float) * kWide, 0);
          }
        }
      });
  const ModelSpec spec = BuildModelSpec(OpenModelSource(per_layer));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(spec.layers[i].intermediate_size, i == 0 ? 64 : 128);
  const std::vector<float> a = PromptLogits(per_layer), b = PromptLogits(zeroed);
  ASSERT_FALSE(a.empty());
  EXPECT_LE(MaxRelativeDifference(a, b), 1e-5);
  EXPECT_GT(MaxRelativeDifference(PromptLogits(f32), b), 1e-3);
}

// A GGUF whose per-layer array disagrees with its tensors fails on the
// tensor, naming the shape the array implies.
TEST(Builders, PerLayerArrayMustMatchTheTensors) {
  TempFiles temp;
  const std::string path = temp("kv_mismatch.gguf");
  CopyGguf(
      Gguf("gemma3_qknorm", "q8_0"), path,
      [](GgufWriter& w) {
        w.SetValue("gemma3.attention.head_count_kv", I32Array({2, 2, 1, 2, 2, 2}));
      },
      [](TensorEntry&, std::vector<uint8_t>&) {});
  auto model = Model::Open(path);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find(
                "tensor 'blk.2.attn_k.weight' has shape [64, 64], expected [32, 64]"),
            std::string::npos)
      << model.status().message();
}

// Per-layer facts in ModelInfo and `gemma info`, as the golden README
// describes the cases. (Gemma 2 through the program only: a 46-layer model
// opened in this process before Session.SaveLoadRoundTrip makes that test
// fail, because memory the KV cache gets back from malloc is not zeroed.)
TEST(LayerInfo, GoldenCasesLayerByLayer) {
  auto model = Model::Open(Gguf("gemma3_qknorm", "q8_0"));
  ASSERT_TRUE(model.ok()) << model.status().message();
  const std::vector<LayerInfo>& layers = (*model)->info().layers;
  ASSERT_EQ(layers.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    // Layers 0-4 local (window 16, rope base 1e4), layer 5 global (1e6);
    // 4 query and 2 KV heads of 32, FFN 128, query_pre_attn_scalar 32.
    EXPECT_EQ(layers[i].attention, i == 5 ? "global" : "sliding") << i;
    EXPECT_EQ(layers[i].sliding_window, i == 5 ? 0 : 16) << i;
    EXPECT_EQ(layers[i].rope_theta, i == 5 ? 1e6f : 1e4f) << i;
    EXPECT_EQ(layers[i].num_attention_heads, 4);
    EXPECT_EQ(layers[i].num_key_value_heads, 2);
    EXPECT_EQ(layers[i].head_dim, 32);
    EXPECT_EQ(layers[i].intermediate_size, 128);
    EXPECT_EQ(layers[i].kv_source_layer, -1);
    EXPECT_FLOAT_EQ(layers[i].query_scale, 1.0f / std::sqrt(32.0f));
  }

  const std::string gemma2 = "-m '" + Gguf("gemma2_swa", "q8_0") + "'";
  const testing::CliOutput out = testing::RunCli("info --json --no-tensors " + gemma2, "", true);
  ASSERT_EQ(out.exit_code, 0) << out.err;
  const nlohmann::json info = nlohmann::json::parse(out.text);
  ASSERT_EQ(info["layers"].size(), 46u);
  for (int i = 0; i < 46; ++i) {
    // Even layers slide over 16 keys; 4 query and 2 KV heads of 32, FFN 64.
    const nlohmann::json& l = info["layers"][i];
    EXPECT_EQ(l["attention"], i % 2 == 0 ? "sliding" : "global") << i;
    EXPECT_EQ(l["sliding_window"], i % 2 == 0 ? 16 : 0) << i;
    EXPECT_EQ(l["num_attention_heads"], 4);
    EXPECT_EQ(l["num_key_value_heads"], 2);
    EXPECT_EQ(l["head_dim"], 32);
    EXPECT_EQ(l["intermediate_size"], 64);
    EXPECT_EQ(l["kv_source_layer"], -1);
  }
  const testing::CliOutput text = testing::RunCli("info --no-tensors " + gemma2, "", true);
  EXPECT_NE(text.text.find("layers 1 3 5 7 9 11 13 15 17 19 21 23 25 27 29 31 33 35 37 39 41 43 "
                           "45: global, heads 4/2 x 32, ffn 64\n"),
            std::string::npos)
      << text.text;
  EXPECT_NE(text.text.find("layers 0 2 4 6 8 10 12 14 16 18 20 22 24 26 28 30 32 34 36 38 40 42 "
                           "44: sliding 16, heads 4/2 x 32, ffn 64\n"),
            std::string::npos)
      << text.text;
}

// Gemma 4's per-layer facts (golden gemma4_dense, case.json's description):
// five sliding layers of 4/2 heads x 32 with full RoPE base 1e4, one global
// layer of 4/1 heads x 64, K = V, proportional RoPE base 1e6 on 8 of 32
// pairs; every layer q/k norms, the weightless v norm, sandwich norms and
// its scalar. Both formats, and `gemma info` shows them.
TEST(LayerInfo, Gemma4DenseLayerByLayer) {
  for (const std::string& path :
       {Gguf("gemma4_dense", "q8_0"), Gguf("gemma4_dense", "bf16"), Hf("gemma4_dense")}) {
    auto model = Model::Open(path);
    ASSERT_TRUE(model.ok()) << model.status().message();
    EXPECT_EQ((*model)->info().architecture, "gemma4");
    const std::vector<LayerInfo>& layers = (*model)->info().layers;
    ASSERT_EQ(layers.size(), 6u);
    for (int i = 0; i < 6; ++i) {
      const bool global = i == 5;
      EXPECT_EQ(layers[i].attention, global ? "global" : "sliding") << path << " " << i;
      EXPECT_EQ(layers[i].sliding_window, global ? 0 : 16) << i;
      EXPECT_EQ(layers[i].num_attention_heads, 4) << i;
      EXPECT_EQ(layers[i].num_key_value_heads, global ? 1 : 2) << path << " " << i;
      EXPECT_EQ(layers[i].head_dim, global ? 64 : 32) << i;
      EXPECT_EQ(layers[i].intermediate_size, 128) << i;
      EXPECT_EQ(layers[i].query_scale, 1.0f) << i;
      EXPECT_EQ(layers[i].rope_theta, global ? 1e6f : 1e4f) << i;
      EXPECT_EQ(layers[i].rope_partial_factor, global ? 0.25f : 1.0f) << path << " " << i;
      EXPECT_EQ(layers[i].k_eq_v, global) << path << " " << i;
      EXPECT_TRUE(layers[i].qk_norm && layers[i].value_norm && layers[i].layer_scalar) << i;
    }
  }
  const testing::CliOutput text =
      testing::RunCli("info --no-tensors -m '" + Gguf("gemma4_dense", "q8_0") + "'", "", true);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.text.find("layers 5: global, heads 4/1 x 64, ffn 128, rope 1e+06 on 8/32 pairs, "
                           "K = V, v norm, layer scalar\n"),
            std::string::npos)
      << text.text;
  EXPECT_NE(text.text.find("layers 0 1 2 3 4: sliding 16, heads 4/2 x 32, ffn 128, v norm, "
                           "layer scalar\n"),
            std::string::npos)
      << text.text;
}

// A file that says it has experts must say how many run per token and how
// wide they are (MoE); one that says it has per-layer embeddings must have
// their tables.
TEST(Builders, Gemma4FeaturesNotYetReadAreRefused) {
  TempFiles temp;
  const std::string moe = temp("gemma4_moe.gguf");
  CopyGguf(
      Gguf("gemma4_dense", "q8_0"), moe, [](GgufWriter& w) { w.SetU32("gemma4.expert_count", 8); },
      [](TensorEntry&, std::vector<uint8_t>&) {});
  auto model = Model::Open(moe);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("mixture-of-experts"), std::string::npos)
      << model.status().message();
  const std::string ple = temp("gemma4_ple.gguf");
  CopyGguf(
      Gguf("gemma4_dense", "q8_0"), ple,
      [](GgufWriter& w) { w.SetU32("gemma4.embedding_length_per_layer_input", 256); },
      [](TensorEntry&, std::vector<uint8_t>&) {});
  model = Model::Open(ple);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("missing tensor 'per_layer_token_embd.weight'"),
            std::string::npos)
      << model.status().message();
}

// Gemma 4 E2B (golden gemma4_e2b): KV sharing, the double-wide MLP of the
// shared layers and the per-layer inputs, from config.json's keys
// (num_kv_shared_layers, use_double_wide_mlp) and from GGUF's per-layer
// feed_forward_length alike; `gemma info` says which layer's KV each reads.
TEST(Builders, Gemma4E2bLayers) {
  for (const std::string& path : {Gguf("gemma4_e2b", "q4_0"), Hf("gemma4_e2b")}) {
    const ModelSpec spec = BuildModelSpec(OpenModelSource(path));
    EXPECT_EQ(spec.per_layer_input_size, 32) << path;
    EXPECT_EQ(spec.per_layer_vocab_size, 512) << path;
    for (int i = 0; i < spec.num_layers(); ++i) {
      const LayerSpec& l = spec.layers[i];
      EXPECT_EQ(l.intermediate_size, i >= 5 ? 128 : 64) << path << " layer " << i;
      EXPECT_EQ(l.kv_source_layer, i == 7 ? 4 : i >= 5 ? 3 : -1) << path << " layer " << i;
      EXPECT_TRUE(l.per_layer_input) << path << " layer " << i;
      EXPECT_FALSE(l.k_eq_v) << path << " layer " << i;
    }
  }
  const testing::CliOutput text =
      testing::RunCli("info --no-tensors -m '" + Gguf("gemma4_e2b", "q4_0") + "'", "", true);
  EXPECT_NE(text.text.find("layers 5 6: sliding 16, heads 4/1 x 32, ffn 128, KV of 3,"),
            std::string::npos)
      << text.text;
  EXPECT_NE(text.text.find("layers 7: global, heads 4/1 x 64, ffn 128, KV of 4,"),
            std::string::npos)
      << text.text;
  EXPECT_NE(text.text.find("looked up by row (per-layer embeddings; not resident)"),
            std::string::npos)
      << text.text;
}

}  // namespace
}  // namespace gemma
