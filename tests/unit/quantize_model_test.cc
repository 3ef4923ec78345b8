// `gemma quantize` against the files llama.cpp's tools made for the golden
// cases: the same per-tensor types, the same bytes where ggml's reference
// quantizers are deterministic, and a converted HF checkpoint equal to the
// converter's f32 GGUF.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

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
  EXPECT_THROW(WriteQuantizedModel(Gguf("gemma1_mqa", "f32"), Temp("x"), "q3_xyz", 1, nullptr), Error);
}

}  // namespace
}  // namespace gemma
