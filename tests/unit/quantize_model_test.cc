// `gemma quantize` against the files llama.cpp's tools made for the golden
// cases: the same per-tensor types, the same bytes where ggml's reference
// quantizers are deterministic, and a converted HF checkpoint equal to the
// converter's f32 GGUF.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "base/error.h"
#include "gemma/gemma.h"
#include "io/gguf.h"
#include "runtime/quantize.h"
#include "testing/golden_case.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

std::string Gguf(const std::string& c, const std::string& t) {
  return testing::GoldenDir(c) + "/gguf/" + c + "." + t + ".gguf";
}

std::string Temp(const std::string& name) {
  return (fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()) + ".gguf")).string();
}

// Compares every tensor of two GGUF files; returns the number whose bytes differ.
int CompareTensors(const std::string& ours_path, const std::string& theirs_path,
                   bool require_same_bytes) {
  GgufFile ours(ours_path), theirs(theirs_path);
  EXPECT_EQ(ours.tensors().size(), theirs.tensors().size());
  int differing = 0;
  for (const auto& [name, t] : theirs.tensors().entries()) {
    const TensorEntry* o = ours.tensors().Find(name);
    if (o == nullptr) {
      ADD_FAILURE() << "missing " << name;
      continue;
    }
    EXPECT_EQ(o->type, t.type) << name;
    EXPECT_EQ(o->shape, t.shape) << name;
    if (o->type == t.type && o->size_bytes == t.size_bytes &&
        std::memcmp(o->data, t.data, t.size_bytes) != 0) {
      ++differing;
      if (require_same_bytes) ADD_FAILURE() << name << " bytes differ";
    }
  }
  return differing;
}

// The converter's f32 GGUF and ours from the same HF checkpoint hold the same
// tensors, bit for bit (norms included: 1 + w computed in f32).
// The prompt logits of a file on the default (packed) path and with --exact,
// and the file's tensor types.
struct BothPaths {
  std::vector<float> packed, exact;
  std::vector<TensorSummary> tensors;
};

BothPaths RunBothPaths(const std::string& path, const std::vector<int32_t>& prompt) {
  BothPaths out;
  for (bool exact : {false, true}) {
    ModelOptions options;
    options.exact = exact;
    auto model = Model::Open(path, options);
    EXPECT_TRUE(model.ok()) << model.status().message();
    if (!model.ok()) return out;
    out.tensors = (*model)->info().tensors;
    Session s(**model);
    EXPECT_TRUE(s.Append(prompt, exact ? &out.exact : &out.packed).ok());
  }
  return out;
}

TEST(Quantize, HfCheckpointToF32MatchesConverter) {
  for (const char* c : {"gemma1_mqa", "gemma3_qknorm"}) {
    const std::string out = Temp(std::string("hf_to_f32_") + c);
    WriteQuantizedModel(testing::GoldenDir(c) + "/hf", out, "f32", 2, nullptr);
    CompareTensors(out, Gguf(c, "f32"), /*require_same_bytes=*/true);
    // And it runs: same logits as the converter's file.
    auto a = Model::Open(out), b = Model::Open(Gguf(c, "f32"));
    ASSERT_TRUE(a.ok()) << a.status().message();
    ASSERT_TRUE(b.ok());
    Session sa(**a), sb(**b);
    const std::vector<int32_t> ids =
        testing::LoadCaseJson(c)["prompt"]["ids"].get<std::vector<int32_t>>();
    ASSERT_TRUE(sa.Append(ids).ok());
    ASSERT_TRUE(sb.Append(ids).ok());
    EXPECT_TRUE(std::equal(sa.logits().begin(), sa.logits().end(), sb.logits().begin()));
    fs::remove(out);
  }
}

// The model's metadata (the keys under "<arch>.") of two GGUF files differ in
// no key and no value; returns the number of differences.
int CompareModelMetadata(const std::string& ours_path, const std::string& theirs_path,
                         const std::string& arch) {
  GgufFile ours(ours_path), theirs(theirs_path);
  auto model_keys = [&](const GgufFile& f) {
    std::map<std::string, const GgufValue*> keys;
    for (const auto& [key, value] : f.metadata()) {
      if (key.rfind(arch + ".", 0) == 0) keys[key] = &value;
    }
    return keys;
  };
  const auto a = model_keys(ours), b = model_keys(theirs);
  int differences = 0;
  for (const auto& [key, theirs_value] : b) {
    const auto it = a.find(key);
    if (it == a.end()) {
      ADD_FAILURE() << "missing " << key;
      ++differences;
      continue;
    }
    const GgufValue& x = *it->second;
    const GgufValue& y = *theirs_value;
    // The GGUF type too (u32 vs i32, an array's element type): a reader
    // may insist on the one llama.cpp writes.
    const bool same = x.type == y.type &&
                      (x.type != GgufType::kArray || x.array_type == y.array_type) &&
                      x.array_size == y.array_size && x.integer == y.integer && x.real == y.real &&
                      x.str == y.str && x.numbers == y.numbers && x.strings == y.strings;
    if (!same) {
      ADD_FAILURE() << key << " differs (type " << static_cast<int>(x.type) << " vs "
                    << static_cast<int>(y.type) << ", element type "
                    << static_cast<int>(x.array_type) << " vs " << static_cast<int>(y.array_type)
                    << ")";
      ++differences;
    }
  }
  for (const auto& [key, value] : a) {
    if (!b.count(key)) {
      ADD_FAILURE() << "extra " << key;
      ++differences;
    }
  }
  return differences;
}

// Two files give the same prompt logits, bit for bit.
void ExpectSameLogits(const std::string& ours_path, const std::string& theirs_path,
                      const std::vector<int32_t>& prompt) {
  auto a = Model::Open(ours_path), b = Model::Open(theirs_path);
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  Session sa(**a), sb(**b);
  ASSERT_TRUE(sa.Append(prompt).ok());
  ASSERT_TRUE(sb.Append(prompt).ok());
  EXPECT_TRUE(
      std::equal(sa.logits().begin(), sa.logits().end(), sb.logits().begin(), sb.logits().end()));
}

// Q4_0 rounds x / d + 8.5 down. ggml computes it as x * (1/d) + 8.5, which
// GCC with FMA fuses into one rounding and clang (or a build without FMA)
// rounds twice; we fuse, as the llama-quantize that made the Gemma 1-3
// golden files did (LegacyTypesMatchLlamaQuantize: identical bytes). The
// Gemma 4 files come from a build that rounds twice, so a value whose
// x * (1/d) + 8.5 lies within an ulp of an integer can land one step apart:
// every tensor must be identical except for such quants (scales equal, a
// quant off by one, at most 1 in 1000).
void ExpectQ4_0DiffersOnlyByFusedRounding(const std::string& ours_path,
                                          const std::string& theirs_path) {
  GgufFile ours(ours_path), theirs(theirs_path);
  EXPECT_EQ(ours.tensors().size(), theirs.tensors().size());
  int64_t quants = 0, off_by_one = 0;
  for (const auto& [name, t] : theirs.tensors().entries()) {
    const TensorEntry* o = ours.tensors().Find(name);
    ASSERT_NE(o, nullptr) << "missing " << name;
    ASSERT_EQ(o->type, t.type) << name;
    ASSERT_EQ(o->shape, t.shape) << name;
    ASSERT_EQ(o->size_bytes, t.size_bytes) << name;
    if (t.type == DType::kQ6_K) continue;  // a search: may break ties otherwise (Q4KMMix...)
    if (t.type != DType::kQ4_0) {
      EXPECT_EQ(std::memcmp(o->data, t.data, t.size_bytes), 0) << name << " bytes differ";
      continue;
    }
    constexpr size_t kBlockBytes = 18;  // f16 scale, 16 bytes of 4-bit quants
    for (size_t b = 0; b < t.size_bytes; b += kBlockBytes) {
      const uint8_t* x = o->data + b;
      const uint8_t* y = t.data + b;
      EXPECT_EQ(std::memcmp(x, y, 2), 0) << name << " block " << b / kBlockBytes << " scale";
      for (int j = 2; j < 18; ++j) {
        for (int shift : {0, 4}) {
          const int qx = (x[j] >> shift) & 15, qy = (y[j] >> shift) & 15;
          ++quants;
          if (qx != qy) {
            ++off_by_one;
            EXPECT_EQ(std::abs(qx - qy), 1) << name << " block " << b / kBlockBytes;
          }
        }
      }
    }
  }
  std::printf("QUANTIZE q4_0 vs %s: %lld of %lld quants one step apart\n",
              fs::path(theirs_path).filename().c_str(), static_cast<long long>(off_by_one),
              static_cast<long long>(quants));
  EXPECT_LE(off_by_one * 1000, quants);
}

// A Gemma 4 checkpoint folder (dense with K = V global layers, E2B with
// per-layer embeddings and KV sharing, MoE) written as bf16, q8_0 and q4_0
// GGUFs is what llama.cpp's converter and llama-quantize made of it: the same
// model metadata, the same tensors (rope_freqs synthesised, the shared
// layers' unused K/V dropped, the PLE projection never quantized, the PLE
// table as the head in Q6_K, an 8-expert model's K/V in Q8_0), bit for bit
// and so the same logits (q4_0: up to the fused rounding above). (The tokenizer keys differ: we
// keep the SentencePiece model's own piece types.)
TEST(Quantize, Gemma4CheckpointsMatchConverterAndLlamaQuantize) {
  for (const char* c : {"gemma4_dense", "gemma4_e2b", "gemma4_moe"}) {
    const std::vector<int32_t> ids =
        testing::LoadCaseJson(c)["prompt"]["ids"].get<std::vector<int32_t>>();
    for (const char* type : {"bf16", "q8_0", "q4_0"}) {
      SCOPED_TRACE(std::string(c) + " " + type);
      const std::string out = Temp(std::string("hf_") + c + "_" + type);
      WriteQuantizedModel(testing::GoldenDir(c) + "/hf", out, type, 2, nullptr);
      if (std::string(type) == "q4_0") {
        ExpectQ4_0DiffersOnlyByFusedRounding(out, Gguf(c, type));
      } else {
        EXPECT_EQ(CompareTensors(out, Gguf(c, type), /*require_same_bytes=*/true), 0);
      }
      EXPECT_EQ(CompareModelMetadata(out, Gguf(c, type), "gemma4"), 0);
      if (std::string(type) == "q4_0") {  // see ExpectQ4_0DiffersOnlyByFusedRounding
        fs::remove(out);
        continue;
      }
      ExpectSameLogits(out, Gguf(c, type), ids);
      fs::remove(out);
    }
  }
}

// A Gemma 3n checkpoint folder (AltUp, LAuReL, activation sparsity, per-layer
// FFN widths and embeddings, KV sharing) written as bf16 and q8_0 GGUFs is
// what llama.cpp's converter and llama-quantize made of it (the golden case
// has no q4_0 file): the same model metadata (the sparsity cut-off
// Phi^-1(0.95) as the converter's float32 icdf, -inf on dense layers), the
// same tensors bit for bit (the three AltUp projections each way stacked
// into one 3-D tensor; the KV-sharing layers' unused k/v kept, as the
// converter keeps them; the AltUp and LAuReL matrices and the PLE
// projection bf16 in the bf16 file and f32 in the q8_0 one, the AltUp
// coefficients f32 in both), and so the same logits. Not compared, and not
// the same: the tokenizer keys (as for Gemma 4 we keep the SentencePiece
// model's own piece types, user-defined for pieces 4 and 5 where the
// converter writes normal, and add unknown_token_id, which it leaves out) and
// general.name / size_label / type.
TEST(Quantize, Gemma3nCheckpointMatchesConverterAndLlamaQuantize) {
  const char* c = "gemma3n_e2b";
  const std::vector<int32_t> ids =
      testing::LoadCaseJson(c)["prompt"]["ids"].get<std::vector<int32_t>>();
  for (const char* type : {"bf16", "q8_0"}) {
    SCOPED_TRACE(std::string(c) + " " + type);
    const std::string out = Temp(std::string("hf_") + c + "_" + type);
    WriteQuantizedModel(testing::GoldenDir(c) + "/hf", out, type, 2, nullptr);
    EXPECT_EQ(CompareTensors(out, Gguf(c, type), /*require_same_bytes=*/true), 0);
    EXPECT_EQ(CompareModelMetadata(out, Gguf(c, type), "gemma3n"), 0);
    ExpectSameLogits(out, Gguf(c, type), ids);
    fs::remove(out);
  }
}

// Q8_0 and Q4_0 are round-to-nearest in ggml's reference quantizers: quantizing
// the f32 file must reproduce llama-quantize's output exactly, mix included
// (the tied embedding as the output head in Q6_K, or Q8_0 where rows are not
// whole 256-blocks).
TEST(Quantize, LegacyTypesMatchLlamaQuantize) {
  for (const char* c : {"gemma1_mqa", "gemma3_qknorm"}) {
    for (const char* type : {"q8_0", "q4_0"}) {
      const std::string out = Temp(std::string(c) + "_" + type);
      WriteQuantizedModel(Gguf(c, "f32"), out, type, 2, nullptr);
      EXPECT_EQ(CompareTensors(out, Gguf(c, type), /*require_same_bytes=*/true), 0)
          << c << " " << type;
      fs::remove(out);
    }
  }
}

// Q4_K_M: llama.cpp's mix (Q6_K for the head and for attn_v/ffn_down on the
// layers use_more_bits picks). The bytes may differ where the K-quant search
// breaks ties differently; the types and the model's quality must not.
TEST(Quantize, Q4KMMixMatchesLlamaQuantize) {
  const std::string out = Temp("h256_q4_k_m");
  WriteQuantizedModel(Gguf("gemma3_h256", "bf16"), out, "q4_k_m", 2, nullptr);
  const int differing =
      CompareTensors(out, Gguf("gemma3_h256", "q4_k_m"), /*require_same_bytes=*/false);
  std::printf("QUANTIZE q4_k_m: %d of 80 tensors differ in bytes from llama-quantize\n", differing);
  auto model = Model::Open(out);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const nlohmann::json c = testing::LoadCaseJson("gemma3_h256");
  Session s(**model);
  std::vector<float> logits;
  ASSERT_TRUE(s.Append(c["prompt"]["ids"].get<std::vector<int32_t>>(), &logits).ok());
  const testing::LogitComparison cmp =
      testing::CompareLogits(logits,
                             testing::LoadF32(testing::GoldenDir("gemma3_h256") +
                                              "/logits/expected_prompt_logits.f32.bin"),
                             512);
  EXPECT_LE(cmp.kl_mean,
            c["suggested_tolerances"]["q4_k_m"]["vs_f32_reference"]["kl_mean_max"].get<double>());
  fs::remove(out);
}

// Q5_K_M (named in upper case, as llama-quantize users type it) runs on the
// packed Q5_K kernel by default: it must be at least as close to the f32
// reference as the Q4_K_M bar, and the packed path close to --exact on it.
TEST(Quantize, Q5KMRunsWithinTheQ4KMBar) {
  const std::string out = Temp("h256_q5_k_m");
  WriteQuantizedModel(Gguf("gemma3_h256", "bf16"), out, "Q5_K_M", 2, nullptr);
  const nlohmann::json c = testing::LoadCaseJson("gemma3_h256");
  const std::vector<int32_t> prompt = c["prompt"]["ids"].get<std::vector<int32_t>>();
  const BothPaths logits = RunBothPaths(out, prompt);
  int q5k = 0;
  for (const TensorSummary& t : logits.tensors) q5k += t.type == "q5_K";
  EXPECT_GT(q5k, 0);
  const std::vector<float> ref = testing::LoadF32(testing::GoldenDir("gemma3_h256") +
                                                  "/logits/expected_prompt_logits.f32.bin");
  const testing::LogitComparison packed = testing::CompareLogits(logits.packed, ref, 512);
  const testing::LogitComparison exact = testing::CompareLogits(logits.exact, ref, 512);
  std::printf("QUANTIZE q5_k_m vs f32 ref: packed kl %.3e top1 %.3f, exact kl %.3e top1 %.3f\n",
              packed.kl_mean, packed.top1, exact.kl_mean, exact.top1);
  const double bar =
      c["suggested_tolerances"]["q4_k_m"]["vs_f32_reference"]["kl_mean_max"].get<double>();
  EXPECT_LE(packed.kl_mean, bar);
  EXPECT_LE(exact.kl_mean, bar);
  // --exact is the file's exact arithmetic (its dequantized reference): the
  // packed path must stay within the bar the golden cases set for that.
  const testing::LogitComparison vs_exact =
      testing::CompareLogits(logits.packed, logits.exact, 512);
  std::printf("QUANTIZE q5_k_m packed vs exact: kl %.3e top1 %.3f\n", vs_exact.kl_mean,
              vs_exact.top1);
  EXPECT_LE(
      vs_exact.kl_mean,
      c["suggested_tolerances"]["q4_k_m"]["vs_dequant_reference"]["kl_mean_max"].get<double>());
  fs::remove(out);
}

// The other legacy types on the packed path: against the f32 reference
// within the Q4_0 bar (they are as precise or more), and close to --exact.
TEST(Quantize, LegacyMinTypesRunWithinTheQ4_0Bar) {
  const nlohmann::json c = testing::LoadCaseJson("gemma3_h256");
  const std::vector<int32_t> prompt = c["prompt"]["ids"].get<std::vector<int32_t>>();
  const std::vector<float> ref = testing::LoadF32(testing::GoldenDir("gemma3_h256") +
                                                  "/logits/expected_prompt_logits.f32.bin");
  const nlohmann::json& bars = c["suggested_tolerances"]["q4_0"];
  for (const char* type : {"q4_1", "q5_0", "q5_1"}) {
    const std::string out = Temp(std::string("h256_") + type);
    WriteQuantizedModel(Gguf("gemma3_h256", "bf16"), out, type, 2, nullptr);
    const BothPaths logits = RunBothPaths(out, prompt);
    const testing::LogitComparison packed = testing::CompareLogits(logits.packed, ref, 512);
    const testing::LogitComparison vs_exact =
        testing::CompareLogits(logits.packed, logits.exact, 512);
    std::printf("QUANTIZE %s: packed vs f32 ref kl %.3e top1 %.3f; packed vs exact kl %.3e\n", type,
                packed.kl_mean, packed.top1, vs_exact.kl_mean);
    EXPECT_LE(packed.kl_mean, bars["vs_f32_reference"]["kl_mean_max"].get<double>()) << type;
    EXPECT_LE(vs_exact.kl_mean, bars["vs_dequant_reference"]["kl_mean_max"].get<double>()) << type;
    fs::remove(out);
  }
}

TEST(Quantize, RejectsUnknownType) {
  EXPECT_THROW(WriteQuantizedModel(Gguf("gemma1_mqa", "f32"), Temp("x"), "q3_xyz", 1, nullptr),
               Error);
}

// A random-weight model at a checkpoint's shapes (bench/make_random_model)
// is the file `gemma quantize` makes of that checkpoint but for the values:
// the tensors (names, shapes, types) and the model's metadata of the q8_0
// file llama.cpp's converter and llama-quantize made, so that the peers load
// it as they load theirs. It runs, and its values depend on the seed alone.
TEST(RandomModel, HasTheTensorsAndMetadataOfTheConvertersFile) {
  for (const std::string c : {"gemma3_qknorm", "gemma4_e2b", "gemma4_moe"}) {
    SCOPED_TRACE(c);
    const std::string hf = testing::GoldenDir(c) + "/hf/";
    const std::string out = Temp("random_" + c), again = Temp("random_again_" + c),
                      other = Temp("random_other_" + c);
    WriteRandomModel(hf + "config.json", hf + "tokenizer.model", out, "q8_0", 7, 2, nullptr);
    CompareTensors(out, Gguf(c, "q8_0"), /*require_same_bytes=*/false);
    // (Gemma 3: our files also carry gemma3.rope.freq_base_swa, which that
    // converter's commit did not write; the metadata test of quantize covers
    // the generations whose keys match one for one.)
    if (c != "gemma3_qknorm") {
      EXPECT_EQ(CompareModelMetadata(out, Gguf(c, "q8_0"), "gemma4"), 0);
    }

    auto model = Model::Open(out);
    ASSERT_TRUE(model.ok()) << model.status().message();
    Session session(**model);
    ASSERT_TRUE(session.Append(std::vector<int32_t>{2, 5, 9}).ok());
    for (const float x : session.logits()) ASSERT_TRUE(std::isfinite(x));

    // One thread or two, the same seed writes the same bytes; another seed
    // other values.
    WriteRandomModel(hf + "config.json", hf + "tokenizer.model", again, "q8_0", 7, 1, nullptr);
    EXPECT_EQ(CompareTensors(again, out, /*require_same_bytes=*/true), 0);
    WriteRandomModel(hf + "config.json", hf + "tokenizer.model", other, "q8_0", 8, 2, nullptr);
    const GgufFile a(out), b(other);
    const TensorEntry* ea = a.tensors().Find("blk.0.attn_q.weight");
    const TensorEntry* eb = b.tensors().Find("blk.0.attn_q.weight");
    ASSERT_TRUE(ea != nullptr && eb != nullptr);
    EXPECT_NE(std::memcmp(ea->data, eb->data, ea->size_bytes), 0);
    for (const std::string& f : {out, again, other}) fs::remove(f);
  }
}

}  // namespace
}  // namespace gemma
