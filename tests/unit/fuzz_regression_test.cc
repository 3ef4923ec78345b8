// Inputs the fuzz campaign (fuzz/, scripts/fuzz.sh) found to crash, each
// rebuilt here from its cause so that the fix stays in place. One test per
// crash; the fuzz target that found it is named in the test's comment.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gemma/gemma.h"
#include "io/json_fields.h"
#include "testing/cli_runner.h"
#include "testing/golden_case.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

std::string TempPath(const std::string& name) {
  return (fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()))).string();
}

std::vector<char> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// session_fuzz: a session file of this model whose header names a KV type id
// that is no type at all threw out of Chat::Load (naming the saved type for
// the "saved with --kv-type X" message looked the id up and failed), which
// ended the program. It must be an error Status naming the file.
TEST(FuzzRegression, SessionFileWithUnknownKvTypeIsAnError) {
  ModelOptions options;
  options.threads = 1;
  options.context_length = 64;
  auto model = Model::Open(testing::TinyModel(), options);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const std::string path = TempPath("gemma_fuzz_regression.session");
  {
    Chat chat(**model);
    const int32_t tokens[] = {2, 10, 11};
    ASSERT_TRUE(chat.session().Append(tokens).ok());
    ASSERT_TRUE(chat.Save(path).ok());
  }
  std::vector<char> bytes = ReadBytes(path);
  // The header: 8 bytes of magic, a u32 version, then the KV type's ggml id
  // (little-endian, as the file is written on x86 and ARM).
  ASSERT_GT(bytes.size(), 16u);
  const uint32_t unknown_type = 0x44000000;
  std::memcpy(bytes.data() + 12, &unknown_type, sizeof(unknown_type));
  WriteBytes(path, bytes);

  Chat chat(**model);
  const Status status = chat.Load(path);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find(path), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("KV type"), std::string::npos) << status.message();
  EXPECT_EQ(chat.session().position(), 0);
  fs::remove(path);
}

// hf_config_fuzz: "num_attention_heads": 0 passed the range check (JSON's
// non-negative integers are read as unsigned, and that branch compared only
// against the maximum), and the default head_dim, hidden_size / heads, was a
// division by zero (UBSan). Below the minimum must be an error in every
// branch; the config then fails naming the key.
TEST(FuzzRegression, UnsignedIntegerBelowTheMinimumIsOutOfRange) {
  const nlohmann::json j = nlohmann::json::parse(R"({"zero": 0, "one": 1})");
  ASSERT_TRUE(j["zero"].is_number_unsigned());
  const JsonObject o(j, "f.json");
  EXPECT_EQ(o.Integer("one", 1, 100), 1);
  try {
    o.Integer("zero", 1, 100);
    ADD_FAILURE() << "0 accepted for 1..100";
  } catch (const std::exception& e) {
    EXPECT_EQ(std::string(e.what()), "f.json: key 'zero' is 0, outside 1..100");
  }
}

TEST(FuzzRegression, ConfigWithZeroAttentionHeadsIsAnError) {
  const fs::path dir = TempPath("gemma_fuzz_regression_hf");
  fs::create_directories(dir);
  const fs::path golden = fs::path(testing::GoldenDir("gemma3_qknorm")) / "hf";
  for (const char* name : {"model.safetensors", "tokenizer.model"}) {
    fs::create_symlink(golden / name, dir / name);
  }
  std::ifstream in(golden / "config.json");
  nlohmann::json config = nlohmann::json::parse(in);
  config["num_attention_heads"] = 0;
  config.erase("head_dim");  // the default head_dim divides by the heads
  std::ofstream(dir / "config.json") << config.dump();

  ModelOptions options;
  options.threads = 1;
  auto model = Model::Open(dir.string(), options);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("key 'num_attention_heads' is 0"), std::string::npos)
      << model.status().message();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gemma
