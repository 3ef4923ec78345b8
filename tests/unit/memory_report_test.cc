// Memory that matches what ModelInfo says: repacked weights in one arena (not
// a 2 MiB-rounded buffer per matrix), the resident-bytes accounting, and
// `gemma quantize`'s streaming writer.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "base/mapped_file.h"
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

// This process's pages of its mapping of `path` that are present (mapped to
// memory), over the file's bytes [begin, end): /proc/self/maps for the
// mapping, /proc/self/pagemap for its pages (bit 63: present). -1 if there is
// no such mapping or no pagemap.
int64_t PresentPages(const std::string& path, size_t begin, size_t end) {
  const std::string target = fs::canonical(path).string();
  std::ifstream maps("/proc/self/maps");
  std::string line;
  uintptr_t start = 0;
  bool found = false;
  while (std::getline(maps, line)) {
    unsigned long lo = 0, hi = 0, offset = 0;
    char file[4096] = {};
    if (std::sscanf(line.c_str(), "%lx-%lx %*s %lx %*s %*s %4095s", &lo, &hi, &offset, file) == 4 &&
        target == file && offset == 0) {
      EXPECT_FALSE(found) << "two mappings of " << target;
      start = lo;
      found = true;
    }
  }
  if (!found) return -1;
  const int pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap < 0) return -1;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  int64_t present = 0;
  for (size_t at = begin / page * page; at < end; at += page) {
    uint64_t entry = 0;
    const auto where = static_cast<off_t>((start + at) / page * sizeof entry);
    if (::pread(pagemap, &entry, sizeof entry, where) != sizeof entry) {
      present = -1;
      break;
    }
    present += static_cast<int64_t>(entry >> 63);
  }
  ::close(pagemap);
  return present;
}

// Packing, the norm gains, the session fingerprint and the embedding's row
// lookups read the model file with file reads, and the header's pages are
// released after parsing: after a load and a short generation, no page of the
// tensor data is mapped (gemma2_swa's q4_0 file holds no matrix that is read
// in place). Reads through the mapping made the whole page-cache folio around
// each touch resident (up to 2 MiB on Linux 6.x): the fingerprint's few bytes
// per tensor end and the norms kept ~80 MiB of Gemma 4 E2B's packed matrices
// mapped and put its peak RSS over its bar (docs/kernels.md, "Peak RSS").
TEST(MappedPages, LoadAndGenerationLeaveNoTensorPageMapped) {
  const std::string path = Gguf("gemma2_swa", "q4_0");
  size_t data_begin = SIZE_MAX, data_end = 0;
  {
    GgufFile file(path);  // its own mapping, gone at the end of this scope
    for (const auto& [name, t] : file.tensors().entries()) {
      const auto offset = static_cast<size_t>(t.data - t.mapping->data());
      data_begin = std::min(data_begin, offset);
      data_end = std::max(data_end, offset + t.size_bytes);
    }
  }
  auto model = Model::Open(path);
  ASSERT_TRUE(model.ok()) << model.status().message();
  if ((*model)->info().packed_bytes == 0) GTEST_SKIP() << "no packed kernels on this CPU";
  ASSERT_EQ((*model)->info().mapped_weights_bytes, 0u) << "a matrix is read in place";
  GenerateOptions options;
  options.max_tokens = 8;
  options.sampling.temperature = 0.0f;
  ASSERT_TRUE(Complete(**model, "The quick brown fox", options, [](std::string_view) {
                return true;
              }).ok());
  const int64_t present = PresentPages(path, data_begin, data_end);
  ASSERT_GE(present, 0) << "no mapping of " << path << " or no /proc/self/pagemap";
  EXPECT_EQ(present, 0) << "pages of " << (data_end - data_begin) << " bytes of tensor data";
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
