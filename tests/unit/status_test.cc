// The public API reports failures as a Status whose code tells their kind, so
// that a server can map it to an HTTP status.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "gemma/gemma.h"
#include "gemma/tools.h"

namespace gemma {
namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("gemma_status_test_" + name)).string();
}

TEST(Status, MissingModelIsNotFound) {
  auto model = Model::Open(TempPath("does_not_exist.gguf"));
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kNotFound) << model.status().message();
  EXPECT_NE(model.status().message().find("does_not_exist.gguf"), std::string::npos);
}

TEST(Status, MalformedModelIsInvalidArgument) {
  const std::string path = TempPath("garbage.gguf");
  std::ofstream(path) << "this is not a GGUF file at all, just some text";
  auto model = Model::Open(path);
  std::filesystem::remove(path);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument) << model.status().message();
}

TEST(Status, DefaultAndNamedCodes) {
  EXPECT_TRUE(Status().ok());
  EXPECT_EQ(Status().message(), "OK");
  const Status s(StatusCode::kResourceExhausted, "queue full");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "queue full");
  EXPECT_STREQ(StatusCodeName(s.code()), "resource exhausted");
  EXPECT_EQ(Status::Error("x").code(), StatusCode::kInvalidArgument);
}

TEST(Status, UtilityEntryPointsReturnStatuses) {
  const Status q = QuantizeModel(TempPath("missing_in.gguf"), TempPath("out.gguf"), "q8_0", 1, {});
  EXPECT_EQ(q.code(), StatusCode::kNotFound) << q.message();
  const Status bad_type =
      QuantizeModel(TempPath("missing_in.gguf"), TempPath("out.gguf"), "q3_xyz", 1, {});
  EXPECT_EQ(bad_type.code(), StatusCode::kInvalidArgument) << bad_type.message();
  auto tok = TextTokenizer::Open(TempPath("no_tokenizer.model"));
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), StatusCode::kNotFound) << tok.status().message();
}

}  // namespace
}  // namespace gemma
