// GGUF and safetensors readers, and the model loader's errors on bad files:
// a clear gemma::Error / Status naming the file and the key or tensor, never a
// crash or an out-of-bounds read (run under ASan in CI).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "base/error.h"
#include "gemma/gemma.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/model_source.h"
#include "io/safetensors.h"
#include "testing/golden_case.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

std::string GoldenGguf(const std::string& c, const std::string& type) {
  return testing::GoldenDir(c) + "/gguf/" + c + "." + type + ".gguf";
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("gemma_io_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "_" + std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void WriteBytes(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// Re-writes a GGUF through GgufWriter, letting `edit` change metadata/tensors.
using Edit = std::function<bool(const std::string& name, TensorEntry& tensor)>;
void CopyGguf(const std::string& from, const std::string& to,
              const std::function<void(GgufWriter&)>& edit_metadata, const Edit& keep_tensor) {
  GgufFile in(from);
  GgufWriter out;
  for (const auto& [key, value] : in.metadata()) out.SetValue(key, value);
  if (edit_metadata) edit_metadata(out);
  for (const std::string& name : in.tensor_order()) {
    TensorEntry t = *in.tensors().Find(name);
    if (keep_tensor && !keep_tensor(name, t)) continue;
    std::vector<uint8_t> bytes(t.data,
                               t.data + std::min(t.size_bytes, BytesFor(t.type, t.elements())));
    bytes.resize(BytesFor(t.type, t.elements()));
    out.AddTensor(t.name, t.type, t.shape, std::move(bytes));
  }
  out.Write(to);
}

std::string OpenError(const std::string& path) {
  auto model = Model::Open(path);
  EXPECT_FALSE(model.ok()) << path << " loaded although it is broken";
  return model.ok() ? "" : model.status().message();
}

TEST(Gguf, ReadsGoldenFile) {
  GgufFile f(GoldenGguf("gemma3_qknorm", "q8_0"));
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.GetString("general.architecture"), "gemma3");
  EXPECT_EQ(f.GetInt("gemma3.block_count"), 6);
  EXPECT_NEAR(*f.GetFloat("gemma3.attention.layer_norm_rms_epsilon"), 1e-6, 1e-12);
  EXPECT_EQ(f.Find("tokenizer.ggml.tokens")->strings.size(), 512u);
  const TensorEntry* q = f.tensors().Find("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  // GGUF ne = [64, 128] is the HF shape [128, 64] reversed.
  EXPECT_EQ(q->shape, (std::vector<int64_t>{128, 64}));
  EXPECT_EQ(q->type, DType::kQ8_0);
  EXPECT_EQ(q->size_bytes, 128u * 2 * 34);
  EXPECT_THROW(f.GetInt("general.architecture"), Error);  // wrong type is an error, not a guess
}

TEST(Gguf, WriterRoundTrip) {
  TempDir dir;
  const std::string copy = dir.File("copy.gguf");
  CopyGguf(GoldenGguf("gemma1_mqa", "q4_0"), copy, nullptr, nullptr);
  GgufFile a(GoldenGguf("gemma1_mqa", "q4_0"));
  GgufFile b(copy);
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const auto& [name, ta] : a.tensors().entries()) {
    const TensorEntry* tb = b.tensors().Find(name);
    ASSERT_NE(tb, nullptr) << name;
    EXPECT_EQ(ta.shape, tb->shape);
    EXPECT_EQ(0, std::memcmp(ta.data, tb->data, ta.size_bytes)) << name;
  }
  EXPECT_EQ(a.metadata().size(), b.metadata().size());
}

// Every prefix of a file is a "truncated download": each must fail cleanly.
TEST(Gguf, EveryTruncationIsAnError) {
  const std::vector<uint8_t> bytes = ReadBytes(GoldenGguf("gemma1_mqa", "q4_0"));
  ASSERT_GT(bytes.size(), 10000u);
  TempDir dir;
  const std::string path = dir.File("truncated.gguf");
  std::vector<size_t> cuts;
  for (size_t n = 0; n < 20000; n += 7) cuts.push_back(n);  // dense through the header
  for (size_t n = 20000; n < bytes.size(); n += 4099) cuts.push_back(n);
  cuts.push_back(bytes.size() - 1);
  for (size_t n : cuts) {
    WriteBytes(path, bytes.data(), n);
    EXPECT_THROW(GgufFile{path}, Error) << "prefix of " << n << " bytes";
  }
}

// Random corruption of header bytes: loading either fails with an Error or
// succeeds; it must never crash (ASan/UBSan watch the reads).
TEST(Gguf, CorruptHeaderNeverCrashes) {
  const std::vector<uint8_t> original = ReadBytes(GoldenGguf("gemma3_qknorm", "q4_0"));
  TempDir dir;
  const std::string path = dir.File("corrupt.gguf");
  std::mt19937 rng(1234);
  int failures = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<uint8_t> bytes = original;
    const size_t header_end = std::min<size_t>(bytes.size(), 16000);
    for (int k = 0; k < 4; ++k)
      bytes[rng() % header_end] ^= static_cast<uint8_t>(1u << (rng() % 8));
    WriteBytes(path, bytes.data(), bytes.size());
    try {
      auto model = Model::Open(path);
      if (!model.ok()) ++failures;
    } catch (...) {
      ADD_FAILURE() << "exception escaped Model::Open on trial " << trial;
    }
  }
  EXPECT_GT(failures, 0);
}

TEST(Gguf, RejectsBadMagicVersionAndCounts) {
  TempDir dir;
  const std::string path = dir.File("bad.gguf");
  std::vector<uint8_t> bytes = ReadBytes(GoldenGguf("gemma1_mqa", "q8_0"));
  bytes[0] = 'X';
  WriteBytes(path, bytes.data(), bytes.size());
  EXPECT_NE(OpenError(path).find("not a GGUF file"), std::string::npos);
  bytes = ReadBytes(GoldenGguf("gemma1_mqa", "q8_0"));
  bytes[4] = 9;  // version 9
  WriteBytes(path, bytes.data(), bytes.size());
  EXPECT_NE(OpenError(path).find("unsupported GGUF version 9"), std::string::npos);
  bytes = ReadBytes(GoldenGguf("gemma1_mqa", "q8_0"));
  bytes[15] = 0x7f;  // tensor count ~ 2^63
  WriteBytes(path, bytes.data(), bytes.size());
  EXPECT_NE(OpenError(path).find("corrupt GGUF header"), std::string::npos);
}

// A string array claiming more strings than the file has bytes for is refused
// before anything is reserved for it (it once reserved up to a million
// strings, 32 MB, for a count read from a 40-byte file).
TEST(Gguf, RejectsStringArrayLongerThanTheFile) {
  std::vector<uint8_t> bytes;
  auto put = [&](uint64_t value, int n) {
    for (int i = 0; i < n; ++i) bytes.push_back(i < 8 ? static_cast<uint8_t>(value >> (8 * i)) : 0);
  };
  bytes = {'G', 'G', 'U', 'F'};
  put(3, 4);  // version
  put(0, 8);  // tensors
  put(1, 8);  // metadata entries
  put(1, 8);  // key length
  bytes.push_back('k');
  put(9, 4);        // array
  put(8, 4);        // of strings
  put(1000, 8);     // 1000 of them, each at least 8 bytes
  put(0, 8 * 999);  // room for 999 empty strings only
  TempDir dir;
  const std::string path = dir.File("strings.gguf");
  WriteBytes(path, bytes.data(), bytes.size());
  try {
    GgufFile file(path);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("array of 1000 strings does not fit"), std::string::npos)
        << e.what();
  }
  put(0, 8);                                          // the thousandth: now it reads
  while (bytes.size() % 32 != 0) bytes.push_back(0);  // the (empty) data section
  put(0, 32);
  WriteBytes(path, bytes.data(), bytes.size());
  GgufFile file(path);
  EXPECT_EQ(file.metadata().at("k").strings.size(), 1000u);
}

TEST(ModelErrors, UnknownArchitecture) {
  TempDir dir;
  const std::string path = dir.File("llama.gguf");
  CopyGguf(
      GoldenGguf("gemma1_mqa", "q8_0"), path,
      [](GgufWriter& w) { w.SetString("general.architecture", "llama"); }, nullptr);
  const std::string error = OpenError(path);
  EXPECT_NE(error.find("unknown or unsupported architecture 'llama'"), std::string::npos) << error;
  EXPECT_NE(error.find(path), std::string::npos) << error;
}

TEST(ModelErrors, MissingKey) {
  TempDir dir;
  const std::string path = dir.File("nokey.gguf");
  GgufFile in(GoldenGguf("gemma1_mqa", "q8_0"));
  GgufWriter out;
  for (const auto& [key, value] : in.metadata()) {
    if (key != "gemma.block_count") out.SetValue(key, value);
  }
  for (const std::string& name : in.tensor_order()) {
    const TensorEntry& t = *in.tensors().Find(name);
    out.AddTensor(name, t.type, t.shape, std::vector<uint8_t>(t.data, t.data + t.size_bytes));
  }
  out.Write(path);
  EXPECT_NE(OpenError(path).find("missing metadata key 'gemma.block_count'"), std::string::npos);
}

// A corrupt count must be refused before anything is allocated for it.
TEST(ModelErrors, ImplausibleLayerCount) {
  TempDir dir;
  const std::string path = dir.File("layers.gguf");
  CopyGguf(
      GoldenGguf("gemma1_mqa", "q8_0"), path,
      [](GgufWriter& w) { w.SetU32("gemma.block_count", 1u << 28); }, nullptr);
  EXPECT_NE(OpenError(path).find("implausible layer count 268435456"), std::string::npos);
}

TEST(ModelErrors, MissingTensor) {
  TempDir dir;
  const std::string path = dir.File("missing.gguf");
  CopyGguf(GoldenGguf("gemma2_swa", "q8_0"), path, nullptr,
           [](const std::string& name, TensorEntry&) { return name != "blk.3.ffn_up.weight"; });
  EXPECT_NE(OpenError(path).find("missing tensor 'blk.3.ffn_up.weight'"), std::string::npos);
}

TEST(ModelErrors, WrongShape) {
  TempDir dir;
  const std::string path = dir.File("shape.gguf");
  CopyGguf(GoldenGguf("gemma3_qknorm", "f32"), path, nullptr,
           [](const std::string& name, TensorEntry& t) {
             if (name == "blk.2.attn_k.weight") t.shape = {32, 64};  // should be [64, 64]
             return true;
           });
  const std::string error = OpenError(path);
  EXPECT_NE(error.find("tensor 'blk.2.attn_k.weight' has shape [32, 64], expected [64, 64]"),
            std::string::npos)
      << error;
}

TEST(ModelErrors, UnusableTensorType) {
  TempDir dir;
  const std::string path = dir.File("dtype.gguf");
  CopyGguf(GoldenGguf("gemma3_qknorm", "f32"), path, nullptr,
           [](const std::string& name, TensorEntry& t) {
             if (name == "blk.0.ffn_gate.weight") t.type = DType::kI32;  // same size as f32
             return true;
           });
  const std::string error = OpenError(path);
  EXPECT_NE(error.find("'blk.0.ffn_gate.weight' has type i32"), std::string::npos) << error;
}

TEST(ModelErrors, TokenizerDoesNotMatchModel) {
  TempDir dir;
  const std::string path = dir.File("vocab.gguf");
  CopyGguf(GoldenGguf("gemma1_mqa", "q8_0"), path, nullptr,
           [](const std::string& name, TensorEntry& t) {
             if (name == "token_embd.weight") t.shape[0] = 256;  // half the vocabulary
             return true;
           });
  const std::string error = OpenError(path);
  EXPECT_NE(error.find("tokenizer and model do not match"), std::string::npos) << error;
}

TEST(ModelErrors, MissingPath) {
  EXPECT_NE(OpenError("/nonexistent/model.gguf").find("no such file"), std::string::npos);
}

TEST(Safetensors, ReadsGoldenCheckpoint) {
  ModelSource source = OpenModelSource(testing::GoldenDir("gemma2_swa") + "/hf");
  EXPECT_EQ(source.format, ModelFormat::kHuggingFace);
  const TensorEntry* e = source.tensors.Find("model.embed_tokens.weight");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->type, DType::kBF16);
  EXPECT_EQ(e->shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(source.hf_config["model_type"], "gemma2");
  EXPECT_FALSE(source.tokenizer_model_path.empty());
}

class BrokenSafetensors : public ::testing::Test {
 protected:
  void Write(const std::string& header, size_t data_bytes) {
    std::vector<uint8_t> bytes(8);
    const uint64_t n = header.size();
    std::memcpy(bytes.data(), &n, 8);
    bytes.insert(bytes.end(), header.begin(), header.end());
    bytes.resize(bytes.size() + data_bytes, 0);
    WriteBytes(path_, bytes.data(), bytes.size());
  }
  std::string Error() {
    TensorCatalog catalog;
    try {
      ReadSafetensors(path_, catalog);
    } catch (const gemma::Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "no error";
    return "";
  }
  TempDir dir_;
  std::string path_ = dir_.File("model.safetensors");
};

TEST_F(BrokenSafetensors, Errors) {
  Write("{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}", 8);
  EXPECT_NE(Error().find("run past the end of the file"), std::string::npos);
  Write("{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 12]}}", 16);
  EXPECT_NE(Error().find("holds 12 bytes but its shape and dtype need 16"), std::string::npos);
  Write("{\"a\": {\"dtype\": \"F8_E4M3\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 2);
  EXPECT_NE(Error().find("unsupported dtype F8_E4M3"), std::string::npos);
  Write("{\"a\": ", 0);
  EXPECT_NE(Error().find("not a JSON object"), std::string::npos);
  Write("{\"a\": {\"dtype\": \"BF16\", \"shape\": [-2], \"data_offsets\": [0, 2]}}", 2);
  EXPECT_NE(Error().find("non-integer extent"), std::string::npos);
  // Header length larger than the file.
  std::vector<uint8_t> bytes(8, 0xff);
  WriteBytes(path_, bytes.data(), bytes.size());
  EXPECT_NE(Error().find("header length"), std::string::npos);
}

TEST(ModelErrors, HfFolderWithoutWeights) {
  TempDir dir;
  fs::copy_file(testing::GoldenDir("gemma1_mqa") + "/hf/config.json", dir.File("config.json"));
  EXPECT_NE(OpenError(dir.File("")).find("no model.safetensors"), std::string::npos);
}

TEST(ModelErrors, TruncatedSafetensorsCheckpoint) {
  TempDir dir;
  const std::string hf = testing::GoldenDir("gemma1_mqa") + "/hf/";
  for (const char* f : {"config.json", "tokenizer.model"}) fs::copy_file(hf + f, dir.File(f));
  const std::vector<uint8_t> bytes = ReadBytes(hf + "model.safetensors");
  WriteBytes(dir.File("model.safetensors"), bytes.data(), bytes.size() - 100);
  const std::string error = OpenError(dir.File(""));
  EXPECT_NE(error.find("truncated download"), std::string::npos) << error;
}

}  // namespace
}  // namespace gemma
