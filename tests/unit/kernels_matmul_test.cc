// MatMul and DequantizeRow on every compiled SIMD target (hwy's per-target
// test parameterisation: SetSupportedTargetsForTest makes the library's dynamic
// dispatch pick each target in turn) and every weight type, against the
// scalar references in kernels/ref/ops_ref.h.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "base/half.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/ops.h"
#include "kernels/ref/ops_ref.h"
#include "quant/quant.h"
#include "threading/thread_pool.h"

namespace gemma {
namespace {

constexpr DType kWeightTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0,
                                  DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                                  DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K,
                                  DType::kQ6_K};

void PutHalf(uint8_t* p, float f) {
  const uint16_t h = F32ToF16(f);
  p[0] = static_cast<uint8_t>(h);
  p[1] = static_cast<uint8_t>(h >> 8);
}

// Owns the bytes of a random weight matrix of `type`.
struct TestMatrix {
  std::vector<uint8_t> bytes;
  WeightMatrix w;
};

TestMatrix RandomMatrix(DType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  TestMatrix m;
  m.w.type = type;
  m.w.rows = rows;
  m.w.cols = cols;
  m.w.row_bytes = BytesFor(type, cols);
  m.bytes.resize(m.w.row_bytes * static_cast<size_t>(rows));
  if (QuantizeSupports(type)) {
    std::normal_distribution<float> normal(0.0f, 0.05f);
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      // Some rows offset, so that the mins of the affine types are exercised.
      const float offset = r % 3 == 2 ? 0.1f : 0.0f;
      for (float& v : row) v = normal(rng) + offset;
      QuantizeRowRef(type, row.data(), m.bytes.data() + static_cast<size_t>(r) * m.w.row_bytes,
                     cols);
    }
  } else {
    // Q2_K / Q3_K (no quantizer): random bytes with sane f16 scales.
    for (uint8_t& b : m.bytes) b = static_cast<uint8_t>(rng());
    std::uniform_real_distribution<float> scale(-0.01f, 0.01f);
    const DTypeInfo& info = Info(type);
    for (size_t b = 0; b < m.bytes.size() / info.block_bytes; ++b) {
      uint8_t* block = m.bytes.data() + b * info.block_bytes;
      if (type == DType::kQ2_K) {
        PutHalf(block + 80, scale(rng));
        PutHalf(block + 82, scale(rng));
      } else {
        PutHalf(block + 108, scale(rng));
      }
    }
  }
  m.w.data = m.bytes.data();
  return m;
}

ThreadPool& Pool(int threads) {
  static ThreadPool one(1), three(3);
  return threads == 1 ? one : three;
}

class MatMulTest : public hwy::TestWithParamTargetAndT<DType> {};
// As HWY_TARGET_INSTANTIATE_TEST_SUITE_P_T, with test names like AVX2_q4_K.
INSTANTIATE_TEST_SUITE_P(
    Targets, MatMulTest,
    ::testing::Combine(::testing::ValuesIn(hwy::SupportedAndGeneratedTargets()),
                       ::testing::ValuesIn(kWeightTypes)),
    [](const ::testing::TestParamInfo<std::tuple<int64_t, DType>>& info) {
      return std::string(hwy::TargetName(std::get<0>(info.param))) + "_" +
             std::string(Name(std::get<1>(info.param)));
    });

// Checks y against the double-precision reference. Rounding-error bound per
// output: the kernel accumulates in f32 with at most cols sequential FMAs per
// lane (cols / lanes of them, plus the lane and chunk reductions, which the
// scalar target's cols bounds), each adding at most eps * |partial sum|, so
// |err| <= (cols + 8) * eps * sum_k |w_k x_k|. Its dequantized weights may also
// differ from the reference's by eps * (|q d| + |m| + |w|) (fused or unfused
// multiply-add), adding eps * sum_k (mag_k + |w_k|) |x_k|. A wrong nibble,
// scale or offset shows up as an O(sum |w x|) error, far above this.
void CheckMatMul(const WeightMatrix& w, const std::vector<float>& x, int64_t tokens,
                 const std::vector<float>& y, int64_t y_stride) {
  const ref::MatMulRefResult want = ref::MatMulRef(w, x.data(), tokens);
  std::vector<float> wrow(static_cast<size_t>(w.cols)), mag(static_cast<size_t>(w.cols));
  int bad = 0;
  for (int64_t r = 0; r < w.rows; ++r) {
    DequantizeRowRef(w.type, w.Row(r), wrow.data(), w.cols);
    ref::DequantTermMagnitudes(w.type, w.Row(r), w.cols, mag.data());
    for (int64_t t = 0; t < tokens; ++t) {
      double dequant_term = 0;
      for (int64_t k = 0; k < w.cols; ++k) {
        dequant_term += (mag[static_cast<size_t>(k)] + std::fabs(wrow[static_cast<size_t>(k)])) *
                        std::fabs(x[static_cast<size_t>(t * w.cols + k)]);
      }
      const size_t i = static_cast<size_t>(t * w.rows + r);
      const double tol =
          FLT_EPSILON * (static_cast<double>(w.cols + 8) * want.abs_dot[i] + dequant_term);
      const double got = y[static_cast<size_t>(t * y_stride + r)];
      if (!(std::fabs(got - want.y[i]) <= tol) && bad++ < 5) {
        ADD_FAILURE() << Name(w.type) << " " << w.rows << "x" << w.cols << " tokens " << tokens
                      << " row " << r << " token " << t << ": " << got << " vs " << want.y[i]
                      << " (tol " << tol << ")";
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST_P(MatMulTest, MatchesReference) {
  const DType type = GetParam();
  ASSERT_TRUE(MatMulSupports(type));
  const int64_t block = Info(type).block_elems;
  // Column counts: the smallest Gemma width, one with a tail beyond whole
  // vectors (float types only), and one crossing the 2048-column chunks of the
  // prefill path; row counts that leave partial 4-row tiles.
  // 4608 (x wider than 16 KiB) takes the decode path that walks four rows in
  // step, for the >= 8-bit types; 4100 is that with a tail.
  std::vector<int64_t> col_options = {block == 256 ? 256 : 64, block == 256 ? 512 : 96, 2304, 4608};
  if (block == 1) {
    col_options.push_back(100);
    col_options.push_back(4100);
  }
  std::mt19937 rng(static_cast<unsigned>(type) * 7919u);
  for (int64_t cols : col_options) {
    for (int64_t rows : {1, 7, 38}) {
      const TestMatrix m = RandomMatrix(type, rows, cols, rng);
      for (int64_t tokens : {1, 2, 3, 6, 9, 41}) {
        if (tokens == 41 && cols != 2304) continue;               // several token blocks
        if (cols > 4096 && (rows == 38 || tokens > 2)) continue;  // keep the wide ones quick
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::vector<float> x(static_cast<size_t>(tokens * cols));
        for (float& v : x) v = normal(rng);
        const int64_t y_stride = rows + 3;
        const float kSentinel = 12345.0f;
        std::vector<float> y1(static_cast<size_t>(tokens * y_stride), kSentinel);
        std::vector<float> y3 = y1;
        MatMul(m.w, x.data(), tokens, y1.data(), y_stride, Pool(1));
        MatMul(m.w, x.data(), tokens, y3.data(), y_stride, Pool(3));
        SCOPED_TRACE(testing::Message()
                     << "rows " << rows << " cols " << cols << " tokens " << tokens);
        CheckMatMul(m.w, x, tokens, y1, y_stride);
        // Rows are never split between threads, so the result does not
        // depend on the thread count.
        EXPECT_EQ(std::memcmp(y1.data(), y3.data(), y1.size() * sizeof(float)), 0);
        // The padding between rows and y_stride is not touched.
        for (int64_t t = 0; t < tokens; ++t) {
          for (int64_t r = rows; r < y_stride; ++r) {
            ASSERT_EQ(y1[static_cast<size_t>(t * y_stride + r)], kSentinel);
          }
        }
      }
    }
  }
}

// A token's outputs do not depend on the tokens beside it, to the bit: one
// token alone (the decode path, rows one or four at a time) sums in the order
// of a token in a batch (the tiled path), on every target and type, across
// vector tails, odd block counts, the 2048-column chunks, partial row tiles
// and several token tiles. Batch invariance of whole models rests on this
// (DefaultPathTest, Gemma3nBatch, the engine's alone-or-beside-others test).
TEST_P(MatMulTest, OneTokenIsBitEqualToItsRowInABatch) {
  const DType type = GetParam();
  const int64_t block = Info(type).block_elems;
  std::mt19937 rng(99);
  std::vector<int64_t> col_options = {block == 256 ? 512 : 96, block == 256 ? 768 : 160, 2304,
                                      4608};
  if (block == 1) {
    for (int64_t extra : {int64_t{100}, int64_t{4100}, int64_t{2051}}) col_options.push_back(extra);
  }
  for (int64_t cols : col_options) {
    const int64_t rows = 21, tokens = 11;
    const TestMatrix m = RandomMatrix(type, rows, cols, rng);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(tokens * cols));
    for (float& v : x) v = normal(rng);
    std::vector<float> batch(static_cast<size_t>(tokens * rows)), single(static_cast<size_t>(rows));
    MatMul(m.w, x.data(), tokens, batch.data(), rows, Pool(3));
    for (int64_t t = 0; t < tokens; ++t) {
      MatMul(m.w, x.data() + t * cols, 1, single.data(), rows, Pool(t % 2 == 0 ? 1 : 3));
      for (int64_t r = 0; r < rows; ++r) {
        ASSERT_EQ(single[static_cast<size_t>(r)], batch[static_cast<size_t>(t * rows + r)])
            << "cols " << cols << " row " << r << " token " << t;
      }
    }
  }
}

// DequantizeRow against DequantizeRowRef: equal up to half an ulp of each
// term of the (possibly fused) w = q * d - m and of the result.
TEST_P(MatMulTest, DequantizeRowMatchesReference) {
  const DType type = GetParam();
  std::mt19937 rng(5);
  const int64_t cols = Info(type).block_elems == 1 ? 100 : 512;
  const TestMatrix m = RandomMatrix(type, 3, cols, rng);
  std::vector<float> got(static_cast<size_t>(cols)), want(got.size()), mag(got.size());
  for (int64_t r = 0; r < 3; ++r) {
    DequantizeRow(m.w, r, got.data());
    DequantizeRowRef(type, m.w.Row(r), want.data(), cols);
    ref::DequantTermMagnitudes(type, m.w.Row(r), cols, mag.data());
    for (size_t k = 0; k < got.size(); ++k) {
      ASSERT_NEAR(got[k], want[k], FLT_EPSILON * (mag[k] + std::fabs(want[k])))
          << Name(type) << " row " << r << " col " << k;
    }
  }
}

TEST(MatMul, RejectsUnsupportedAndMisshapen) {
  std::vector<uint8_t> bytes(1024);
  WeightMatrix w;
  w.type = DType::kQ8_K;
  w.data = bytes.data();
  w.rows = 1;
  w.cols = 256;
  w.row_bytes = BytesFor(w.type, 256);
  std::vector<float> x(256), y(4);
  EXPECT_FALSE(MatMulSupports(DType::kQ8_K));
  EXPECT_FALSE(MatMulSupports(DType::kI32));
  EXPECT_ANY_THROW(MatMul(w, x.data(), 1, y.data(), 1, Pool(1)));
  w.type = DType::kQ4_K;
  w.cols = 96;  // not a whole super-block
  EXPECT_ANY_THROW(MatMul(w, x.data(), 1, y.data(), 1, Pool(1)));
  EXPECT_ANY_THROW(DequantizeRow(w, 0, y.data()));
}

}  // namespace
}  // namespace gemma
