// Memory that matches what ModelInfo says: repacked weights in one arena (not
// a 2 MiB-rounded buffer per matrix), the resident-bytes accounting, and
// `gemma quantize`'s streaming writer.
#include <gtest/gtest.h>
#include <malloc.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "gemma/gemma.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/model_source.h"
#include "model/spec.h"
#include "model/transformer.h"
#include "model/weights.h"
#include "runtime/model_info.h"
#include "testing/golden_case.h"

// GCC says so with __SANITIZE_*__; clang 14 only through __has_feature.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GEMMA_TEST_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GEMMA_TEST_UNDER_SANITIZER 1
#endif
#endif
#ifndef GEMMA_TEST_UNDER_SANITIZER
#define GEMMA_TEST_UNDER_SANITIZER 0
#endif

namespace gemma {
namespace {

namespace fs = std::filesystem;

std::string Gguf(const std::string& c, const std::string& type) {
  return testing::GoldenDir(c) + "/gguf/" + c + "." + type + ".gguf";
}

size_t MatrixBytes(const ModelInfo& info) {
  size_t total = 0;
  for (const TensorSummary& t : info.tensors) {
    if (t.shape.size() == 2) total += t.bytes;
  }
  return total;
}

// gemma2_swa has 323 matrices of a few KB each: one 2 MiB-rounded buffer per
// matrix made its load take 646 MiB; in one arena it takes about the bytes
// packed.
TEST(PackedArena, LoadGrowsByThePackedBytesNotAHugePagePerMatrix) {
  const size_t before = ResidentSetBytes();
  ASSERT_GT(before, 0u) << "no /proc/self/statm";
  auto model = Model::Open(Gguf("gemma2_swa", "q4_0"));
  ASSERT_TRUE(model.ok()) << model.status().message();
  const ModelInfo& info = (*model)->info();
  if (info.packed_bytes == 0) GTEST_SKIP() << "no packed kernels on this CPU";
  const size_t grown = ResidentSetBytes() - before;
  EXPECT_LT(grown, info.packed_bytes + (size_t{32} << 20))
      << "packed " << info.packed_bytes << " bytes, resident set grew " << grown;
  // Each matrix is page-aligned in the arena: at most 4 KiB of padding each.
  EXPECT_LE(info.packed_bytes, MatrixBytes(info) * 2 + 323 * 4096);
}

// What ModelInfo adds up, checked against the tensor list.
TEST(ResidentBytes, AddsUpFromItsParts) {
  for (bool exact : {true, false}) {
    ModelOptions options;
    options.exact = exact;
    auto model = Model::Open(Gguf("gemma3_qknorm", "f32"), options);
    ASSERT_TRUE(model.ok()) << model.status().message();
    const ModelInfo& i = (*model)->info();
    // Buffers of 16 MiB or more take whole huge pages, smaller ones whole
    // 4 KiB pages.
    auto huge_pages = [&](size_t n) {
      const size_t unit = n < (size_t{16} << 20) ? 4096 : (size_t{2} << 20);
      return (n + unit - 1) / unit * unit;
    };
    if (exact) {
      // Nothing repacked: every matrix (the tied head is the embedding) is
      // read from the mapping in full for every token.
      EXPECT_EQ(i.packed_bytes, 0u);
      EXPECT_EQ(i.mapped_weights_bytes, MatrixBytes(i));
      EXPECT_EQ(i.resident_weights_bytes, i.mapped_weights_bytes);
    } else {
      EXPECT_EQ(i.resident_weights_bytes, huge_pages(i.packed_bytes) + i.mapped_weights_bytes);
    }
    EXPECT_EQ(i.resident_bytes, i.resident_weights_bytes + i.resident_other_bytes +
                                    huge_pages(i.kv_cache_bytes) + i.scratch_bytes);
    EXPECT_GT(i.scratch_bytes, 0u);
  }
}

// The scratch estimate mirrors the executor's buffers: measured here as the
// heap its constructor allocates (glibc's counters, which count allocations
// whether touched or not; not meaningful under a sanitizer's allocator). The
// kernels' per-thread part is checked end to end, against a run's peak RSS
// (cli_input_test.cc).
TEST(ResidentBytes, ScratchEstimateMatchesTheExecutorsBuffers) {
#if GEMMA_TEST_UNDER_SANITIZER
  GTEST_SKIP() << "sanitizer allocators bypass glibc's malloc statistics";
#else
  for (const char* name : {"gemma3_h256", "gemma2_swa", "gemma4_e2b", "gemma3n_e2b"}) {
    const ModelSource source = OpenModelSource(Gguf(name, "q8_0"));
    const ModelSpec spec = BuildModelSpec(source);
    const ModelWeights weights = BindWeights(source, spec);
    for (int batch : {1, 64, 256}) {
      auto heap = [] {
        const struct mallinfo2 m = mallinfo2();
        return m.uordblks + m.hblkhd;
      };
      const size_t before = heap();
      const Transformer executor(spec, weights, batch);
      const double used = static_cast<double>(heap() - before);
      const ScratchBytes estimate = EstimateScratch(spec, batch, 1);
      // The rest is RoPE tables and the attention's empty scratch (a few KB),
      // and large buffers rounded to whole pages by malloc's mmap.
      const double expected = static_cast<double>(estimate.activations);
      EXPECT_NEAR(used, expected, 16384.0 + 0.02 * expected) << name << " batch " << batch;
    }
  }
#endif
}

// The streaming writer produces the bytes the in-memory writer does, with
// tensors arriving in pieces of any size.
TEST(GgufStreamWriter, SameBytesAsSerializeInAnyPieces) {
  GgufFile in(Gguf("gemma1_mqa", "q4_0"));
  GgufWriter whole, declared;
  for (const auto& [key, value] : in.metadata()) {
    whole.SetValue(key, value);
    declared.SetValue(key, value);
  }
  std::vector<uint8_t> data;
  for (const std::string& name : in.tensor_order()) {
    const TensorEntry& t = *in.tensors().Find(name);
    whole.AddTensor(name, t.type, t.shape, std::vector<uint8_t>(t.data, t.data + t.size_bytes));
    declared.DeclareTensor(name, t.type, t.shape);
    data.insert(data.end(), t.data, t.data + t.size_bytes);
  }
  const std::vector<uint8_t> expected = whole.Serialize();
  const std::string path =
      (fs::temp_directory_path() / ("gemma_stream_" + std::to_string(::getpid()))).string();
  std::mt19937 rng(1);
  {
    GgufStreamWriter out(declared, path);
    for (size_t at = 0; at < data.size();) {
      const size_t n = std::min<size_t>(data.size() - at, 1 + rng() % 5000);
      out.Append(data.data() + at, n);
      at += n;
    }
    EXPECT_FALSE(fs::exists(path)) << "visible before Finish";
    out.Finish();
  }
  std::ifstream file(path, std::ios::binary);
  const std::vector<uint8_t> written((std::istreambuf_iterator<char>(file)), {});
  EXPECT_EQ(written, expected);
  fs::remove(path);
}

TEST(GgufStreamWriter, IncompleteOrExcessDataIsAnErrorAndLeavesNoFile) {
  GgufWriter layout;
  layout.SetString("general.architecture", "gemma");
  layout.DeclareTensor("a", DType::kF32, {4});
  const std::string path =
      (fs::temp_directory_path() / ("gemma_stream_bad_" + std::to_string(::getpid()))).string();
  const uint8_t bytes[20] = {};
  {
    GgufStreamWriter out(layout, path);
    out.Append(bytes, 8);
    EXPECT_THROW(out.Finish(), std::exception);
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  {
    GgufStreamWriter out(layout, path);
    EXPECT_THROW(out.Append(bytes, 20), std::exception);
  }
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

}  // namespace
}  // namespace gemma
