// Dequantization against real data: the golden cases' quantized GGUFs (made by
// ik_llama.cpp's llama-quantize) hold the same weights as their f32 / bf16
// GGUFs (all weights are bf16-exact, so either is the truth). Each quantized
// tensor must dequantize close to the truth (error ranges per type, and a
// per-element bound for the legacy types), the SIMD DequantizeRow must agree
// with the reference, and where ggml's quantizer is deterministic and shared
// with ours (Q8_0, Q4_0, Q4_K) our QuantizeRowRef must reproduce the bytes.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "base/half.h"
#include "io/gguf.h"
#include "kernels/ops.h"
#include "kernels/ref/ops_ref.h"
#include "quant/quant.h"
#include "testing/golden_case.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

std::string GgufPath(const std::string& c, const std::string& type) {
  return testing::GoldenDir(c) + "/gguf/" + c + "." + type + ".gguf";
}

// Truth values of every tensor of a case, widened to f32.
std::map<std::string, std::vector<float>> LoadTruth(const std::string& c) {
  const std::string f32 = GgufPath(c, "f32");
  GgufFile file(fs::exists(f32) ? f32 : GgufPath(c, "bf16"));
  std::map<std::string, std::vector<float>> out;
  for (const auto& [name, e] : file.tensors().entries()) {
    std::vector<float>& v = out[name];
    v.resize(static_cast<size_t>(e.elements()));
    DequantizeRowRef(e.type, e.data, v.data(), e.elements());
  }
  return out;
}

bool IsBlockType(DType t) { return Info(t).block_elems > 1; }

struct TypeStats {
  double sum_sq_err = 0, sum_sq = 0;
  int tensors = 0, same_bytes = 0;
};

// Relative RMS error ranges of the dequantized real weights, both sides, with
// ~35% slack around the measured values (comments); they come out within a few
// percent of quant_ref_test's Gaussian rows.
struct Range {
  double lo, hi;
};
const std::map<DType, Range> kRanges = {
    {DType::kQ8_0, {3.5e-3, 7.5e-3}},   // measured 5.36e-3
    {DType::kQ6_K, {1.1e-2, 2.4e-2}},   // measured 1.75e-2
    {DType::kQ4_K, {4.6e-2, 9.6e-2}},   // measured 7.14e-2
    {DType::kQ4_0, {5.6e-2, 1.16e-1}},  // measured 8.60e-2
};

// Per-element error bound for the legacy types from the block's stored f16
// scale d: half a step, or a full step for Q4_0's clamped level, plus the f16
// rounding of d (2^-11 relative) times the largest level.
double LegacyBound(DType type, const uint8_t* block) {
  const double d = std::fabs(F16ToF32(static_cast<uint16_t>(block[0] | (block[1] << 8))));
  const double f16 = 1.0 / 2048;
  if (type == DType::kQ8_0) return d * (0.5 + 127 * f16) * (1 + 2 * f16) + 1e-12;
  if (type == DType::kQ4_0) return d * (1.0 + 8 * f16) * (1 + 2 * f16) + 1e-12;
  return INFINITY;
}

TEST(QuantGguf, DequantizeMatchesTruth) {
  std::map<DType, TypeStats> stats;
  for (const char* c : {"gemma1_mqa", "gemma2_swa", "gemma3_h256", "gemma3_qknorm"}) {
    const auto truth = LoadTruth(c);
    for (const char* q : {"q8_0", "q4_0", "q4_k_m"}) {
      const std::string path = GgufPath(c, q);
      if (!fs::exists(path)) continue;
      GgufFile file(path);
      for (const auto& [name, e] : file.tensors().entries()) {
        if (!IsBlockType(e.type)) continue;
        SCOPED_TRACE(std::string(c) + "." + q + " " + name);
        const auto it = truth.find(name);
        ASSERT_NE(it, truth.end());
        const std::vector<float>& x = it->second;
        const int64_t n = e.elements();
        ASSERT_EQ(static_cast<size_t>(n), x.size());
        ASSERT_TRUE(MatMulSupports(e.type));

        std::vector<float> y(x.size());
        DequantizeRowRef(e.type, e.data, y.data(), n);
        TypeStats& s = stats[e.type];
        ++s.tensors;
        const DTypeInfo& info = Info(e.type);
        double worst = 0;
        for (int64_t i = 0; i < n; ++i) {
          const double err = static_cast<double>(y[i]) - x[i];
          s.sum_sq_err += err * err;
          s.sum_sq += static_cast<double>(x[i]) * x[i];
          const uint8_t* block =
              e.data + static_cast<size_t>(i / info.block_elems) * info.block_bytes;
          worst = std::max(worst, std::fabs(err) / LegacyBound(e.type, block));
        }
        EXPECT_LE(worst, 1.0);

        // SIMD DequantizeRow (best target) against the reference, row by row:
        // within half an ulp of each term of w = q * d - m (the kernels may
        // fuse the multiply-add) and of the result.
        WeightMatrix w;
        w.type = e.type;
        w.data = e.data;
        w.rows = e.shape[0];
        w.cols = n / w.rows;
        w.row_bytes = BytesFor(e.type, w.cols);
        std::vector<float> row(static_cast<size_t>(w.cols)), mag(static_cast<size_t>(w.cols));
        int bad = 0;
        for (int64_t r = 0; r < w.rows; ++r) {
          DequantizeRow(w, r, row.data());
          ref::DequantTermMagnitudes(e.type, w.Row(r), w.cols, mag.data());
          for (int64_t k = 0; k < w.cols; ++k) {
            const float want = y[static_cast<size_t>(r * w.cols + k)];
            const double tol = FLT_EPSILON * (mag[static_cast<size_t>(k)] + std::fabs(want));
            if (std::fabs(row[static_cast<size_t>(k)] - want) > tol) ++bad;
          }
        }
        EXPECT_EQ(bad, 0);

        // Same bytes as llama-quantize where the algorithms coincide (ik's
        // Q6_K search differs from ggml's reference, which ours follows).
        if (e.type == DType::kQ8_0 || e.type == DType::kQ4_0 || e.type == DType::kQ4_K) {
          std::vector<uint8_t> ours(e.size_bytes);
          QuantizeRowRef(e.type, x.data(), ours.data(), n);
          const bool same = std::memcmp(ours.data(), e.data, e.size_bytes) == 0;
          EXPECT_TRUE(same) << "our quantization differs from the file";
          s.same_bytes += same;
        }
      }
    }
  }
  // Every type the golden files use was seen, and its error is in range.
  for (const auto& [type, range] : kRanges) {
    const TypeStats& s = stats[type];
    ASSERT_GT(s.tensors, 0) << Name(type);
    const double rel = std::sqrt(s.sum_sq_err / s.sum_sq);
    std::printf("golden %-5s %3d tensors, rel rms error %.3g, %d byte-identical\n",
                std::string(Name(type)).c_str(), s.tensors, rel, s.same_bytes);
    EXPECT_GE(rel, range.lo) << Name(type);
    EXPECT_LE(rel, range.hi) << Name(type);
  }
}

}  // namespace
}  // namespace gemma
