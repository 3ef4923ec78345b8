// The packed MatMul path (repacked weights, 8-bit or bf16 activations)
// against its scalar reference kernels/ref/packed_ref.h, which reads the
// original block layouts, on every compiled SIMD target that has packed
// kernels (AVX-512 VNNI, AVX2) and this CPU runs: hwy's per-target test
// parameterisation, the cases listed by what each target reports (BF16 only
// with AVX512_BF16).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "base/error.h"
#include "hwy/aligned_allocator.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/ops.h"
#include "kernels/packed_matmul.h"
#include "kernels/ref/packed_ref.h"
#include "quant/blocks.h"
#include "quant/quant.h"
#include "threading/thread_pool.h"

namespace gemma {
namespace {

struct PackedMatrix {
  std::vector<uint8_t> bytes;
  hwy::AlignedFreeUniquePtr<uint8_t[]> packed;
  WeightMatrix w;
};

PackedMatrix RandomPacked(DType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  PackedMatrix m;
  m.w.type = type;
  m.w.rows = rows;
  m.w.cols = cols;
  m.w.row_bytes = BytesFor(type, cols);
  m.bytes.resize(m.w.row_bytes * static_cast<size_t>(rows));
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float offset = r % 3 == 2 ? 0.1f : 0.0f;  // exercises the Q4_K mins
    for (float& v : row) v = normal(rng) + offset;
    uint8_t* dst = m.bytes.data() + static_cast<size_t>(r) * m.w.row_bytes;
    if (type == DType::kQ2_K || type == DType::kQ3_K) {
      // No quantizer for these: random levels, scales (and Q3_K's hmask
      // bits), a sane d (and Q2_K's dmin).
      std::uniform_int_distribution<int> byte(0, 255);
      for (size_t i = 0; i < m.w.row_bytes; ++i) dst[i] = static_cast<uint8_t>(byte(rng));
      for (int64_t b = 0; b < cols / kQK_K; ++b) {
        if (type == DType::kQ2_K) {
          reinterpret_cast<BlockQ2_K*>(dst)[b].d.Set(0.01f * (1.0f + normal(rng)));
          reinterpret_cast<BlockQ2_K*>(dst)[b].dmin.Set(0.005f * (1.0f + normal(rng)));
        } else {
          reinterpret_cast<BlockQ3_K*>(dst)[b].d.Set(0.01f * (1.0f + normal(rng)));
        }
      }
      continue;
    }
    QuantizeRowRef(type, row.data(), dst, cols);
  }
  m.w.data = m.bytes.data();
  m.packed = hwy::AllocateAligned<uint8_t>(PackedBytes(m.w));
  PackGroups(m.w, 0, (rows + kPackRows - 1) / kPackRows, m.packed.get());
  m.w.packed = m.packed.get();
  return m;
}

// (target, type) for every target this CPU runs that has the packed kernel.
std::vector<std::tuple<int64_t, DType>> PackedCases() {
  std::vector<std::tuple<int64_t, DType>> cases;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    if (!PackedMatMulAvailable()) continue;
    for (DType type :
         {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ2_K,
          DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kBF16}) {
      if (type != DType::kBF16 || PackedMatMulHasBf16()) cases.emplace_back(target, type);
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  return cases;
}

class PackedMatMulTest : public hwy::TestWithParamTargetAndT<DType> {};
// Test names like AVX2_q4_K.
INSTANTIATE_TEST_SUITE_P(Targets, PackedMatMulTest, ::testing::ValuesIn(PackedCases()),
                         [](const ::testing::TestParamInfo<std::tuple<int64_t, DType>>& info) {
                           return std::string(hwy::TargetName(std::get<0>(info.param))) + "_" +
                                  std::string(Name(std::get<1>(info.param)));
                         });

// y (tokens rows of y_stride, padding holding `sentinel`) against the scalar
// reference on the original blocks.
void ExpectMatchesReference(const WeightMatrix& w, const std::vector<float>& x, int64_t tokens,
                            const std::vector<float>& y, int64_t y_stride, float sentinel) {
  const ref::PackedRefResult want = ref::MatMulPackedRef(w, x.data(), tokens);
  const int64_t rows = w.rows, cols = w.cols;
  int bad = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      const size_t i = static_cast<size_t>(t * rows + r);
      // Integer sums are exact; the f32 work is one scale product and
      // one FMA per block (two for Q4_K) and the running sum.
      const double tol = 4.0 * FLT_EPSILON * static_cast<double>(cols / 16 + 8) * want.abs_terms[i];
      const double got = y[static_cast<size_t>(t * y_stride + r)];
      if (!(std::fabs(got - want.y[i]) <= tol) && bad++ < 5) {
        ADD_FAILURE() << "row " << r << " token " << t << ": " << got << " vs " << want.y[i];
      }
    }
    for (int64_t r = rows; r < y_stride; ++r) {
      ASSERT_EQ(y[static_cast<size_t>(t * y_stride + r)], sentinel) << "padding written";
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST_P(PackedMatMulTest, MatchesReference) {
  const DType type = GetParam();
  std::mt19937 rng(static_cast<unsigned>(type) * 31u + 7u);
  ThreadPool one(1), three(3);
  // Rows: partial groups (5: no second 8-row slice, 13: half of one), exact
  // groups; tokens: decode, token-tile edges, and more than one L2 token
  // chunk for the narrow matrix.
  for (int64_t cols : {256, 1280}) {
    for (int64_t rows : {5, 13, 32, 53}) {
      const PackedMatrix m = RandomPacked(type, rows, cols, rng);
      ASSERT_TRUE(PackedMatMulSupports(m.w));
      for (int64_t tokens : {1, 2, 3, 4, 7, 9, 17}) {
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::vector<float> x(static_cast<size_t>(tokens * cols));
        for (float& v : x) v = normal(rng);
        if (tokens == 3) std::fill(x.begin(), x.begin() + 32, 0.0f);  // an all-zero block
        const int64_t y_stride = rows + 5;
        const float kSentinel = 777.0f;
        std::vector<float> y1(static_cast<size_t>(tokens * y_stride), kSentinel), y3 = y1;
        MatMul(m.w, x.data(), tokens, y1.data(), y_stride, one);
        MatMul(m.w, x.data(), tokens, y3.data(), y_stride, three);
        SCOPED_TRACE(testing::Message()
                     << Name(type) << " rows " << rows << " cols " << cols << " tokens " << tokens);
        ExpectMatchesReference(m.w, x, tokens, y1, y_stride, kSentinel);
        EXPECT_EQ(std::memcmp(y1.data(), y3.data(), y1.size() * sizeof(float)), 0);
      }
    }
  }
}

// Rows wider than the k-chunk (16384 columns: 86 KB per group of Q2_K, the
// lightest packed type, over the 80 KB that triggers chunks) run in pieces
// with partial sums parked in y. The pieces must
// add up in the same order as one pass: every token of a batch gives the
// bits it gives alone (decode runs unchunked).
TEST_P(PackedMatMulTest, WideRowsInChunksMatchSingleTokens) {
  const DType type = GetParam();
  std::mt19937 rng(static_cast<unsigned>(type) * 17u + 3u);
  ThreadPool two(2);
  const int64_t rows = 20, cols = 16384, tokens = 17;
  const PackedMatrix m = RandomPacked(type, rows, cols, rng);
  ASSERT_TRUE(PackedMatMulSupports(m.w));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(tokens * cols));
  for (float& v : x) v = normal(rng);
  const int64_t y_stride = rows + 3;
  const float kSentinel = 777.0f;
  std::vector<float> batch(static_cast<size_t>(tokens * y_stride), kSentinel);
  MatMul(m.w, x.data(), tokens, batch.data(), y_stride, two);
  ExpectMatchesReference(m.w, x, tokens, batch, y_stride, kSentinel);
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<float> alone(static_cast<size_t>(rows));
    MatMul(m.w, x.data() + t * cols, 1, alone.data(), rows, two);
    EXPECT_EQ(std::memcmp(alone.data(), batch.data() + t * y_stride, alone.size() * sizeof(float)),
              0)
        << "token " << t;
  }
}

// The packed path stays close to the f32 path on the same weights: the only
// difference is the rounded activations (8-bit: ~1/127 of a block's largest).
TEST_P(PackedMatMulTest, CloseToFloatPath) {
  const DType type = GetParam();
  std::mt19937 rng(3);
  ThreadPool pool(1);
  const int64_t rows = 48, cols = 1024, tokens = 3;
  PackedMatrix m = RandomPacked(type, rows, cols, rng);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(tokens * cols));
  for (float& v : x) v = normal(rng);
  std::vector<float> y_int(static_cast<size_t>(tokens * rows)), y_f32(y_int.size());
  MatMul(m.w, x.data(), tokens, y_int.data(), rows, pool);
  WeightMatrix unpacked = m.w;
  unpacked.packed = nullptr;
  MatMul(unpacked, x.data(), tokens, y_f32.data(), rows, pool);
  double err = 0, norm = 0;
  for (size_t i = 0; i < y_int.size(); ++i) {
    err += (y_int[i] - y_f32[i]) * (y_int[i] - y_f32[i]);
    norm += y_f32[i] * y_f32[i];
  }
  EXPECT_LT(std::sqrt(err / norm), 0.02) << Name(type);
  EXPECT_GT(norm, 0.0);
}

// A layer's q/k/v and gate/up go through MatMulSameInput: one rounding of x
// per weight type and one pass of the pool over all row groups. Each output
// must be the bits its own MatMul gives, with types mixed (a run of one type,
// then another, then one back: Q4_K_M files have Q5_0 q/k and a Q8_0 v), a
// matrix without a packed copy among them, any token count and any pool.
TEST_P(PackedMatMulTest, SameInputGivesEachMatMulsBits) {
  const DType type = GetParam();
  std::mt19937 rng(static_cast<unsigned>(type) * 13u + 5u);
  const int64_t cols = 512;
  PackedMatrix a = RandomPacked(type, 53, cols, rng);
  PackedMatrix b = RandomPacked(type, 16, cols, rng);
  PackedMatrix c = RandomPacked(DType::kQ8_0, 40, cols, rng);
  PackedMatrix d = RandomPacked(type, 37, cols, rng);
  PackedMatrix e = RandomPacked(type, 21, cols, rng);
  e.w.packed = nullptr;  // the file's blocks (float path)
  const std::vector<const WeightMatrix*> ws = {&a.w, &b.w, &c.w, &d.w, &e.w};
  ThreadPool one(1), two(2), three(3);
  for (ThreadPool* pool : {&one, &two, &three}) {
    for (int64_t tokens : {1, 3, 8, 17}) {
      std::normal_distribution<float> normal(0.0f, 1.0f);
      std::vector<float> x(static_cast<size_t>(tokens * cols));
      for (float& v : x) v = normal(rng);
      std::vector<std::vector<float>> fused(ws.size()), alone(ws.size());
      std::vector<MatMulOutput> outs;
      for (size_t i = 0; i < ws.size(); ++i) {
        const int64_t stride = ws[i]->rows + 2;
        fused[i].assign(static_cast<size_t>(tokens * stride), 777.0f);
        alone[i] = fused[i];
        outs.push_back({ws[i], fused[i].data(), stride});
        MatMul(*ws[i], x.data(), tokens, alone[i].data(), stride, *pool);
      }
      MatMulSameInput(outs, x.data(), tokens, *pool);
      for (size_t i = 0; i < ws.size(); ++i) {
        EXPECT_EQ(std::memcmp(fused[i].data(), alone[i].data(), fused[i].size() * sizeof(float)), 0)
            << Name(type) << " output " << i << " tokens " << tokens << " threads "
            << pool->num_threads();
      }
    }
  }
  std::vector<float> x(cols, 1.0f), y(64);
  const std::vector<MatMulOutput> narrow = {{&a.w, y.data(), 53}, {&c.w, y.data(), 39}};
  EXPECT_THROW(MatMulSameInput(narrow, x.data(), 1, one), Error) << "a stride below the rows";
}

// Greedy rows of the head (MatMulHeadFor): rows that cannot be the argmax of
// (logits + bias) may be -inf, every other row must hold MatMulHead's bits,
// and the argmax (ties to the lowest id) must be MatMulHead's. The matrix
// holds exact copies of row 5 (at 3 and 700: a three-way tie) and near
// copies (one level moved: logits within a rounding step of each other),
// biases push rows up and down, ids past real_vocab are padding, and rows
// that read the whole distribution sit between greedy ones.
TEST_P(PackedMatMulTest, GreedyHeadRowsKeepTheArgmax) {
  const DType type = GetParam();
  // Other types (and targets) run the whole head: every row must match.
  std::mt19937 rng(static_cast<unsigned>(type) * 7u + 1u);
  const int64_t rows = 4003, cols = 256, real = 3995;
  PackedMatrix m = RandomPacked(type, rows, cols, rng);
  const auto copy_row = [&](int64_t from, int64_t to, int nudge_byte) {
    uint8_t* dst = m.bytes.data() + static_cast<size_t>(to) * m.w.row_bytes;
    std::memcpy(dst, m.bytes.data() + static_cast<size_t>(from) * m.w.row_bytes, m.w.row_bytes);
    if (nudge_byte >= 0) dst[m.w.row_bytes - 1 - nudge_byte] ^= 0x01;  // one level of one value
  };
  copy_row(5, 3, -1);
  copy_row(5, 700, -1);
  for (int k = 0; k < 6; ++k) copy_row(5, 710 + k, k);
  PackGroups(m.w, 0, (rows + kPackRows - 1) / kPackRows, m.packed.get());
  const bool saves = MatMulHeadForSaves(m.w);
  ThreadPool two(2);
  const std::vector<float> sums = RowAbsSums(m.w, two);
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; r += 37) {
    DequantizeRow(m.w, r, row.data());
    double want = 0;
    for (float v : row) want += std::fabs(static_cast<double>(v));
    EXPECT_GE(static_cast<double>(sums[r]), want) << "row " << r;
    EXPECT_LE(static_cast<double>(sums[r]), want * (1 + 1e-6)) << "row " << r;
  }
  // Tokens: 8 along row 5 (it and its copies win, or tie), then random
  // ones, chosen from 2,048 so that at least 8 are tokens whose 8-bit argmax
  // is not the precise one (the best two rows closer than the precise pass
  // moves them: a bound too small keeps the wrong one).
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const auto argmax_of = [&](const float* logits) { return ArgMaxF32(logits, real); };
  const int64_t pool_tokens = 2048;
  std::vector<float> pool_x(static_cast<size_t>(pool_tokens * cols));
  for (float& v : pool_x) v = normal(rng);
  std::vector<float> pool_hi(static_cast<size_t>(pool_tokens * rows)), pool_full(pool_hi.size());
  MatMul(m.w, pool_x.data(), pool_tokens, pool_hi.data(), rows, two);
  MatMulHead(m.w, pool_x.data(), pool_tokens, pool_full.data(), rows, two);
  std::vector<int64_t> flipping, steady;
  for (int64_t t = 0; t < pool_tokens; ++t) {
    const bool flip = argmax_of(&pool_hi[t * rows]) != argmax_of(&pool_full[t * rows]);
    std::vector<int64_t>& into = flip ? flipping : steady;
    if (into.size() < (flip ? 48u : 40u)) into.push_back(t);
  }
  if (saves) {
    ASSERT_GE(flipping.size(), 8u) << "too few tokens whose winner depends on the precise pass";
  }
  std::vector<float> w5(cols);
  DequantizeRow(m.w, 5, w5.data());
  std::vector<float> x;
  for (int t = 0; t < 8; ++t) {
    for (int64_t j = 0; j < cols; ++j) x.push_back(40.0f * w5[j] + normal(rng));
  }
  for (size_t i = 0; i < std::max(flipping.size(), steady.size()); ++i) {  // interleaved
    for (const std::vector<int64_t>* from : {&flipping, &steady}) {
      if (i >= from->size()) continue;
      const float* src = &pool_x[(*from)[i] * cols];
      x.insert(x.end(), src, src + cols);
    }
  }
  const int64_t tokens = static_cast<int64_t>(x.size()) / cols;
  const std::vector<std::pair<int32_t, float>> bias_a = {{5, -0.5f}, {17, 3.0f}, {17, -1.0f}};
  const std::vector<std::pair<int32_t, float>> bias_b = {{1, -100.0f}, {3998, 100.0f}};
  std::vector<HeadRowUse> uses(tokens);
  for (int64_t t = 0; t < tokens; ++t) {
    uses[t].argmax_only = t % 4 != 3;  // every fourth row whole
    uses[t].real_vocab = static_cast<int32_t>(real);
    if (t % 3 == 1) uses[t].bias = bias_a;
    if (t % 3 == 2) uses[t].bias = bias_b;
  }
  const int64_t stride = rows + 4;
  std::vector<float> full(static_cast<size_t>(tokens * stride), 777.0f), fast = full;
  MatMulHead(m.w, x.data(), tokens, full.data(), stride, two);
  MatMulHeadFor(m.w, x.data(), tokens, fast.data(), stride, two, uses, sums);
  const auto pick = [&](const float* logits, const HeadRowUse& use) {
    std::vector<float> v(logits, logits + rows);
    for (const auto& [id, b] : use.bias) v[id] += b;
    std::fill(v.begin() + real, v.end(), -INFINITY);
    return ArgMaxF32(v.data(), rows);
  };
  int64_t skipped = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    const float* f = &full[t * stride];
    const float* g = &fast[t * stride];
    SCOPED_TRACE(testing::Message() << Name(type) << " token " << t);
    if (!uses[t].argmax_only || !saves) {
      EXPECT_EQ(std::memcmp(f, g, stride * sizeof(float)), 0) << "a whole row changed";
      continue;
    }
    EXPECT_EQ(pick(g, uses[t]), pick(f, uses[t]));
    for (int64_t r = 0; r < rows; ++r) {
      if (std::isinf(g[r]) && g[r] < 0) {
        ++skipped;
      } else {
        ASSERT_EQ(std::memcmp(&g[r], &f[r], sizeof(float)), 0) << "row " << r;
      }
    }
    for (int64_t r = rows; r < stride; ++r) ASSERT_EQ(g[r], 777.0f) << "padding written";
  }
  const int64_t winner = pick(&full[0], uses[0]);
  EXPECT_TRUE(winner == 3 || winner == 5 || winner == 700 || (winner >= 710 && winner < 716))
      << "token 0's winner " << winner << " is not in row 5's cluster";
  int64_t greedy = 0;
  for (const HeadRowUse& u : uses) greedy += u.argmax_only ? 1 : 0;
  if (saves) {
    EXPECT_GT(skipped, greedy * rows / 2) << "the greedy rows skipped almost nothing";
  }
  EXPECT_EQ(saves, type == DType::kQ4_0 || type == DType::kQ5_0 || type == DType::kQ8_0);
}

// Every target's kernels compute the same integer sums and the same f32
// operations in the same order: their results must agree bit for bit, so a
// model decodes the same tokens on an AVX2 laptop as on an AVX-512 server.
TEST(PackedMatMul, SameBitsOnEveryTarget) {
  std::vector<int64_t> targets;
  for (const auto& [target, type] : PackedCases()) {
    if (targets.empty() || targets.back() != target) targets.push_back(target);
  }
  if (targets.size() < 2) GTEST_SKIP() << "fewer than two packed targets on this CPU";
  ThreadPool two(2);
  for (DType type : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                     DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    std::mt19937 rng(static_cast<unsigned>(type) + 11u);
    const int64_t rows = 45, cols = 768, tokens = 6;
    const PackedMatrix m = RandomPacked(type, rows, cols, rng);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(tokens * cols));
    for (float& v : x) v = normal(rng);
    std::vector<float> first;
    for (int64_t target : targets) {
      hwy::SetSupportedTargetsForTest(target);
      std::vector<float> y(static_cast<size_t>(tokens * rows));
      MatMul(m.w, x.data(), tokens, y.data(), rows, two);
      if (first.empty()) {
        first = y;
      } else {
        EXPECT_EQ(std::memcmp(first.data(), y.data(), y.size() * sizeof(float)), 0)
            << Name(type) << " on " << hwy::TargetName(target);
      }
    }
    hwy::SetSupportedTargetsForTest(0);
  }
}

// Weights packed for the best target still multiply after the SIMD cap is
// lowered below it: through the lower target's packed kernel where it has
// one, else from the file's blocks, giving the float path's bits.
TEST(PackedMatMul, LowerTargetFallsBackToFilePath) {
  std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  ThreadPool two(2);
  int fell_back = 0;
  for (DType type : {DType::kQ4_0, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K, DType::kBF16}) {
    std::mt19937 rng(static_cast<unsigned>(type) + 5u);
    const int64_t rows = 21, cols = 512, tokens = 3;
    hwy::SetSupportedTargetsForTest(0);
    if (!PackedMatMulAvailable() || (type == DType::kBF16 && !PackedMatMulHasBf16())) continue;
    const PackedMatrix m = RandomPacked(type, rows, cols, rng);  // for the best target
    WeightMatrix unpacked = m.w;
    unpacked.packed = nullptr;
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(tokens * cols));
    for (float& v : x) v = normal(rng);
    for (int64_t target : targets) {
      hwy::SetSupportedTargetsForTest(target);
      if (PackedMatMulSupports(m.w)) continue;
      ++fell_back;
      std::vector<float> y(static_cast<size_t>(tokens * rows)), want(y.size());
      ASSERT_NO_THROW(MatMul(m.w, x.data(), tokens, y.data(), rows, two))
          << Name(type) << " on " << hwy::TargetName(target);
      MatMul(unpacked, x.data(), tokens, want.data(), rows, two);
      EXPECT_EQ(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)), 0)
          << Name(type) << " on " << hwy::TargetName(target);
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  if (fell_back == 0) GTEST_SKIP() << "every target this CPU runs has every packed kernel";
}

TEST(PackedMatMul, SupportsOnlyPackedTypes) {
  WeightMatrix w;
  w.rows = 16;
  w.cols = 256;
  w.type = DType::kQ4_0;
  EXPECT_EQ(PackedMatMulSupports(w), PackedMatMulAvailable());
  w.type = DType::kQ2_K;
  EXPECT_EQ(PackedMatMulSupports(w), PackedMatMulAvailable());
  w.cols = 160;  // not whole 256-value blocks
  EXPECT_FALSE(PackedMatMulSupports(w));
  w.cols = 256;
  w.type = DType::kF32;
  EXPECT_FALSE(PackedMatMulSupports(w));
  w.type = DType::kBF16;
  EXPECT_EQ(PackedMatMulSupports(w), PackedMatMulHasBf16());
  w.cols = 100;  // not whole 32-value blocks
  EXPECT_FALSE(PackedMatMulSupports(w));
  w.type = DType::kF16;
  w.cols = 256;
  EXPECT_FALSE(PackedMatMulSupports(w));
  std::vector<uint8_t> out(4096);
  EXPECT_ANY_THROW(PackGroups(w, 0, 1, out.data()));
}

}  // namespace
}  // namespace gemma
