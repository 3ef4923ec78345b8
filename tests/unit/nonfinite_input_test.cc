// Inf, NaN and numbers out of range must not reach undefined behaviour
// (signed overflow, out-of-range float-to-int conversion): the sanitizer
// build (scripts/test.sh, -fsanitize=undefined,float-cast-overflow, no
// recovery) fails these tests where they do. One test per class:
//  - activations rounded to 8 bits for the packed integer kernels
//    (QuantizeActivations): a block holding Inf or NaN, and a block so small
//    that the inverse of its scale overflows;
//  - a config.json token id too large for int32 (bos_token_id 1e30).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gemma/gemma.h"
#include "hwy/aligned_allocator.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/ops.h"
#include "kernels/packed_matmul.h"
#include "quant/quant.h"
#include "threading/thread_pool.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct PackedMatrix {
  std::vector<uint8_t> bytes;
  hwy::AlignedFreeUniquePtr<uint8_t[]> packed;
  WeightMatrix w;
};

// Random weights of `type` (a type with a reference quantizer), packed for
// the current SIMD target.
PackedMatrix RandomPacked(DType type, int64_t rows, int64_t cols) {
  PackedMatrix m;
  m.w.type = type;
  m.w.rows = rows;
  m.w.cols = cols;
  m.w.row_bytes = BytesFor(type, cols);
  m.bytes.resize(m.w.row_bytes * static_cast<size_t>(rows));
  std::mt19937 rng(static_cast<unsigned>(type) + 1u);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = normal(rng) + (r % 2 == 1 ? 0.1f : 0.0f);
    QuantizeRowRef(type, row.data(), m.bytes.data() + static_cast<size_t>(r) * m.w.row_bytes, cols);
  }
  m.w.data = m.bytes.data();
  m.packed = hwy::AllocateAligned<uint8_t>(PackedBytes(m.w));
  PackGroups(m.w, 0, (rows + kPackRows - 1) / kPackRows, m.packed.get());
  m.w.packed = m.packed.get();
  return m;
}

// (target, type) for every target this CPU runs that has the packed kernels;
// the int8 types whose kernels take the activation sums in each form (plain,
// times the offset, scaled by the block's scale, int16 pairs).
std::vector<std::tuple<int64_t, DType>> Cases() {
  std::vector<std::tuple<int64_t, DType>> cases;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    if (!PackedMatMulAvailable()) continue;
    for (DType type :
         {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_1, DType::kQ4_K, DType::kQ6_K}) {
      cases.emplace_back(target, type);
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  return cases;
}

class NonFiniteActivations : public hwy::TestWithParamTargetAndT<DType> {};
INSTANTIATE_TEST_SUITE_P(Targets, NonFiniteActivations, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<std::tuple<int64_t, DType>>& info) {
                           return std::string(hwy::TargetName(std::get<0>(info.param))) + "_" +
                                  std::string(Name(std::get<1>(info.param)));
                         });

// A token whose activations hold Inf or NaN has no meaningful product: every
// output of that token is NaN (as the f32 path gives), and the other tokens
// of the batch are what they are alone. A block whose values are all below
// ~1e-37 (its scale's inverse overflows f32) contributes exactly nothing,
// like a block of zeros. Both for the plain and the precise (two-pass) path.
TEST_P(NonFiniteActivations, NaNOutForNonFiniteInAndTinyBlocksCountAsZero) {
  const DType type = GetParam();
  const int64_t rows = 24, cols = 512;
  const PackedMatrix m = RandomPacked(type, rows, cols);
  ASSERT_TRUE(PackedMatMulSupports(m.w));
  ThreadPool pool(1);

  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> clean(static_cast<size_t>(cols));
  for (float& v : clean) v = normal(rng);
  // Tokens: clean; +Inf in the first block; NaN in the middle; -Inf in the
  // last block; the first block tiny; the first block zero.
  const int64_t tokens = 6;
  std::vector<float> x;
  for (int64_t t = 0; t < tokens; ++t) x.insert(x.end(), clean.begin(), clean.end());
  auto at = [&](int64_t t, int64_t k) -> float& { return x[static_cast<size_t>(t * cols + k)]; };
  at(1, 3) = kInf;
  at(2, cols / 2 + 5) = kNaN;
  at(3, cols - 1) = -kInf;
  for (int64_t k = 0; k < 32; ++k) {
    at(4, k) = (k % 2 ? 1.0f : -1.0f) * 1e-39f;  // subnormal: max / 127 inverts to Inf
    at(5, k) = 0.0f;
  }

  for (const bool precise : {false, true}) {
    SCOPED_TRACE(testing::Message() << Name(type) << (precise ? " precise" : " plain"));
    std::vector<float> y(static_cast<size_t>(tokens * rows));
    kernels::MatMulPackedWeights(m.w, x.data(), tokens, y.data(), rows, pool, precise);
    std::vector<float> alone(static_cast<size_t>(rows));
    kernels::MatMulPackedWeights(m.w, clean.data(), 1, alone.data(), rows, pool, precise);
    for (int64_t r = 0; r < rows; ++r) {
      const size_t i = static_cast<size_t>(r);
      EXPECT_TRUE(std::isfinite(y[i])) << "clean token, row " << r;
      EXPECT_EQ(std::memcmp(&y[i], &alone[i], sizeof(float)), 0) << "clean token, row " << r;
      for (int64_t t : {1, 2, 3}) {
        EXPECT_TRUE(std::isnan(y[static_cast<size_t>(t * rows + r)]))
            << "token " << t << " row " << r << ": " << y[static_cast<size_t>(t * rows + r)];
      }
      const float tiny = y[static_cast<size_t>(4 * rows + r)];
      const float zero = y[static_cast<size_t>(5 * rows + r)];
      EXPECT_TRUE(std::isfinite(tiny)) << "row " << r;
      EXPECT_EQ(std::memcmp(&tiny, &zero, sizeof(float)), 0)
          << "row " << r << ": tiny block " << tiny << " vs zero block " << zero;
    }
  }
}

// A Hugging Face folder: the golden gemma3_qknorm checkpoint with `config`
// as its config.json (the weights are symlinked).
class HfFolder {
 public:
  explicit HfFolder(const std::string& config) {
    const fs::path golden = fs::path(GEMMA_TEST_DATA_DIR) / "golden/gemma3_qknorm/hf";
    dir_ = fs::temp_directory_path() /
           ("gemma-nonfinite-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(dir_);
    for (const char* name : {"model.safetensors", "tokenizer.model"}) {
      fs::create_symlink(golden / name, dir_ / name);
    }
    std::ofstream(dir_ / "config.json") << config;
  }
  ~HfFolder() { fs::remove_all(dir_); }
  std::string path() const { return dir_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path dir_;
};

// The golden config with `key` set to the JSON text `value`.
std::string GoldenConfigWith(const std::string& key, const std::string& value) {
  std::ifstream in(fs::path(GEMMA_TEST_DATA_DIR) / "golden/gemma3_qknorm/hf/config.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t brace = text.rfind('}');
  if (brace == std::string::npos) return text;
  // A later duplicate key wins in nlohmann::json, as in Python's json.
  return text.substr(0, brace) + ", \"" + key + "\": " + value + "}";
}

// bos_token_id beyond int32 (1e30, -1e30, 2^31) or not whole used to be converted with a
// plain cast: undefined behaviour, and some id on x86. It must be an error
// naming the key; an ordinary id still loads.
TEST(NonFiniteConfig, HugeTokenIdIsAnErrorNamingTheKey) {
  {
    HfFolder folder(GoldenConfigWith("bos_token_id", "2"));
    ModelOptions options;
    options.threads = 1;
    auto model = Model::Open(folder.path(), options);
    ASSERT_TRUE(model.ok()) << model.status().message();
  }
  for (const char* value : {"1e30", "-1e30", "2147483648", "2.5"}) {
    SCOPED_TRACE(value);
    HfFolder folder(GoldenConfigWith("bos_token_id", value));
    ModelOptions options;
    options.threads = 1;
    auto model = Model::Open(folder.path(), options);
    ASSERT_FALSE(model.ok());
    EXPECT_NE(model.status().message().find("bos_token_id"), std::string::npos)
        << model.status().message();
  }
}

}  // namespace
}  // namespace gemma
