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
#include <string>
#include <vector>

#include "gemma/gemma.h"
#include "testing/cli_runner.h"

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
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
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

}  // namespace
}  // namespace gemma
