// Inputs that used to end in an uncaught exception (SIGABRT) or a hang: JSON
// of the wrong type in config.json and in a chat session's metadata, paths
// that are FIFOs, symlink loops or too long. Each must come back as a Status
// naming the file and the key, promptly.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gemma/gemma.h"
#include "gemma/tools.h"
#include "io/json_fields.h"
#include "testing/golden_case.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("gemma_bad_input_" + std::to_string(::getpid()) + "_" +
                                         std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

const std::string kHf = testing::GoldenDir("gemma3_qknorm") + "/hf";

// A copy of the golden Gemma 3 HF folder whose config.json `edit` changes.
std::string HfFolderWithConfig(const TempDir& dir,
                               const std::function<void(nlohmann::json&)>& edit) {
  for (const char* f : {"model.safetensors", "tokenizer.model"}) {
    fs::copy_file(kHf + "/" + f, dir / f, fs::copy_options::overwrite_existing);
  }
  std::ifstream in(kHf + "/config.json");
  nlohmann::json config = nlohmann::json::parse(in);
  edit(config);
  std::ofstream(dir / "config.json", std::ios::trunc) << config.dump();
  return dir.str();
}

Status OpenStatus(const std::string& path, const ModelOptions& options = {}) {
  auto model = Model::Open(path, options);
  return model.ok() ? Status() : model.status();
}

// Runs `edit` on the config and expects Model::Open to fail with a message
// that names config.json and contains `expected`.
void ExpectConfigError(const std::function<void(nlohmann::json&)>& edit,
                       const std::string& expected) {
  TempDir dir;
  const Status status = OpenStatus(HfFolderWithConfig(dir, edit));
  ASSERT_FALSE(status.ok()) << "loaded although: " << expected;
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.message();
  EXPECT_NE(status.message().find(dir / "config.json"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find(expected), std::string::npos) << status.message();
}

// Numbers that are finite as JSON doubles but not as f32 (found by
// hf_config_fuzz on a Gemma 4 config: rms_norm_eps 1e306 became Inf).
TEST(BadConfig, NumbersPastFloatRangeAreRefused) {
  ExpectConfigError([](nlohmann::json& c) { c["rms_norm_eps"] = 1e306; },
                    "rms_norm_eps must be positive and within float range");
  ExpectConfigError([](nlohmann::json& c) { c["final_logit_softcapping"] = 1e300; },
                    "outside float range");
  ExpectConfigError([](nlohmann::json& c) { c["rope_theta"] = 1e300; }, "invalid RoPE parameters");
}

TEST(BadConfig, WrongJsonTypesNameTheKey) {
  ExpectConfigError([](nlohmann::json& c) { c["model_type"] = 3; },
                    "key 'model_type' should be a string but is a number");
  ExpectConfigError([](nlohmann::json& c) { c["rope_theta"] = nullptr; },
                    "key 'rope_theta' should be a number but is null");
  ExpectConfigError(
      [](nlohmann::json& c) {
        c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", "8"}};
      },
      "key 'rope_scaling.factor' should be a number but is a string");
  ExpectConfigError([](nlohmann::json& c) { c["rope_scaling"] = "linear"; },
                    "key 'rope_scaling' should be an object but is a string");
  ExpectConfigError([](nlohmann::json& c) { c["num_hidden_layers"] = 2.5; },
                    "key 'num_hidden_layers' should be an integer but is 2.5");
  ExpectConfigError([](nlohmann::json& c) { c["hidden_size"] = {64}; },
                    "key 'hidden_size' should be an integer but is an array");
  ExpectConfigError(
      [](nlohmann::json& c) {
        c["layer_types"] = {"sliding_attention", 7,
                            "sliding_attention", "sliding_attention",
                            "sliding_attention", "full_attention"};
      },
      "key 'layer_types[1]' should be a string but is a number");
  ExpectConfigError(
      [](nlohmann::json& c) {
        c["rope_parameters"] = {{"full_attention", {{"rope_theta", true}}}};
      },
      "key 'rope_parameters.full_attention.rope_theta' should be a number but is a boolean");
  // Token ids: a huge one is refused before any float-to-int conversion.
  ExpectConfigError([](nlohmann::json& c) { c["bos_token_id"] = 1e30; },
                    "key 'bos_token_id' is 1e+30, outside 0..2147483647");
  ExpectConfigError([](nlohmann::json& c) { c["eos_token_id"] = {"<eos>"}; },
                    "key 'eos_token_id[0]' should be an integer but is a string");
  // A multimodal config names the key inside text_config.
  ExpectConfigError(
      [](nlohmann::json& c) {
        nlohmann::json text = c;
        text["head_dim"] = "32";
        c = {{"model_type", "gemma3"}, {"text_config", text}};
      },
      "key 'text_config.head_dim' should be an integer but is a string");
  ExpectConfigError(
      [](nlohmann::json& c) {
        c = {{"model_type", "gemma3"}, {"text_config", 1}};
      },
      "key 'text_config' should be an object but is a number");
}

// HF writes null for what a model leaves unset; those keys keep meaning
// "absent" (the golden configs have no nulls, real ones do).
TEST(BadConfig, NullMeansUnsetWhereHfWritesIt) {
  TempDir dir;
  const std::string path = HfFolderWithConfig(dir, [](nlohmann::json& c) {
    c["final_logit_softcapping"] = nullptr;
    c["attn_logit_softcapping"] = nullptr;
    c["rope_scaling"] = nullptr;
    c["eos_token_id"] = {1, 106};
  });
  const Status status = OpenStatus(path);
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST(BadConfig, NotJsonOrNotAnObject) {
  TempDir dir;
  HfFolderWithConfig(dir, [](nlohmann::json&) {});
  std::ofstream(dir / "config.json", std::ios::trunc) << "{\"model_type\": ";
  Status status = OpenStatus(dir.str());
  EXPECT_NE(status.message().find("config.json: not valid JSON"), std::string::npos)
      << status.message();
  std::ofstream(dir / "config.json", std::ios::trunc) << "[1, 2]";
  status = OpenStatus(dir.str());
  EXPECT_NE(status.message().find("expected a JSON object but found an array"), std::string::npos)
      << status.message();
}

TEST(BadConfig, IndexWeightMapOfWrongType) {
  TempDir dir;
  HfFolderWithConfig(dir, [](nlohmann::json&) {});
  fs::remove(dir / "model.safetensors");
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"weight_map": {"model.embed_tokens.weight": 12}})";
  const Status status = OpenStatus(dir.str());
  EXPECT_NE(status.message().find(
                "key 'weight_map.model.embed_tokens.weight' should be a string but is a number"),
            std::string::npos)
      << status.message();
}

TEST(JsonObject, IntegerChecksRangeBeforeConverting) {
  const nlohmann::json j = {
      {"big", 18446744073709551615ull}, {"neg", -3}, {"float", 7.0}, {"frac", 7.5}, {"ok", 42}};
  const JsonObject o(j, "f.json");
  EXPECT_EQ(o.Integer("ok", 0, 100), 42);
  EXPECT_EQ(o.Integer("float", 0, 100), 7);
  EXPECT_EQ(o.Integer("absent", 0, 100), std::nullopt);
  auto message = [&](const char* key) {
    try {
      o.Integer(key, 0, 100);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("big"), "f.json: key 'big' is 18446744073709551615, outside 0..100");
  EXPECT_EQ(message("neg"), "f.json: key 'neg' is -3, outside 0..100");
  EXPECT_EQ(message("frac"), "f.json: key 'frac' should be an integer but is 7.5");
}

// Chat::Load reads the conversation from JSON inside the session file; a
// field of the wrong type names the file and the key.
TEST(BadSession, ChatMetadataOfWrongTypes) {
  auto model = Model::Open(testing::GoldenDir("gemma3_qknorm") + "/gguf/gemma3_qknorm.q8_0.gguf");
  ASSERT_TRUE(model.ok()) << model.status().message();
  TempDir dir;
  const std::string path = dir / "chat.session";
  Chat writer(**model);
  const std::pair<const char*, const char*> cases[] = {
      {R"({"turns": [{"user": 5, "model": "hi"}]})",
       "key 'turns[0].user' should be a string but is a number"},
      {R"({"turns": [{"user": "a", "model": "b"}, 3]})",
       "key 'turns[1]' should be an object but is a number"},
      {R"({"turns": "none"})", "key 'turns' should be an array but is a string"},
      {R"({"turns": [], "turn_open": "yes"})",
       "key 'turn_open' should be a boolean but is a string"},
      {R"({"turns": [], "system": ["x"]})", "key 'system' should be a string but is an array"},
      {R"({"turns": [)", "not valid JSON"},
      {R"([1])", "not a chat session"},
  };
  for (const auto& [metadata, expected] : cases) {
    ASSERT_TRUE(writer.session().Save(path, metadata).ok());
    Chat reader(**model);
    const Status status = reader.Load(path);
    ASSERT_FALSE(status.ok()) << metadata;
    EXPECT_NE(status.message().find(path), std::string::npos) << status.message();
    EXPECT_NE(status.message().find(expected), std::string::npos) << status.message();
    EXPECT_TRUE(reader.history().empty());
  }
}

// --- paths: FIFOs must be refused before they are opened (an open() for
// reading blocks until a writer appears), symlink loops and over-long names
// are messages, not std::filesystem exceptions.

std::string MakeFifo(const TempDir& dir, const std::string& name) {
  const std::string path = dir / name;
  EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0);
  return path;
}

std::string MakeSymlinkLoop(const TempDir& dir, const std::string& name) {
  const std::string path = dir / name;
  fs::create_symlink(path, path);
  return path;
}

TEST(BadPaths, ModelPathThatIsAFifoIsRefused) {
  TempDir dir;
  const Status status = OpenStatus(MakeFifo(dir, "model.gguf"));
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("model.gguf: is a FIFO"), std::string::npos) << status.message();
}

TEST(BadPaths, FifosInsideAFolder) {
  for (const char* name : {"config.json", "model.safetensors", "tokenizer.model"}) {
    TempDir dir;
    HfFolderWithConfig(dir, [](nlohmann::json&) {});
    fs::remove(dir / name);
    MakeFifo(dir, name);
    const Status status = OpenStatus(dir.str());
    EXPECT_FALSE(status.ok()) << name;
    EXPECT_NE(status.message().find(std::string(name) + ": is a FIFO"), std::string::npos)
        << status.message();
  }
}

TEST(BadPaths, TokenizerOverrideThatIsAFifo) {
  TempDir dir;
  ModelOptions options;
  options.tokenizer_path = MakeFifo(dir, "tokenizer.json");
  const Status status = OpenStatus(kHf, options);
  EXPECT_NE(status.message().find("tokenizer.json: is a FIFO, not a tokenizer file"),
            std::string::npos)
      << status.message();
  EXPECT_FALSE(TextTokenizer::Open(options.tokenizer_path).ok());
}

TEST(BadPaths, SymlinkLoops) {
  TempDir dir;
  const std::string loop = MakeSymlinkLoop(dir, "loop.gguf");
  Status status = OpenStatus(loop);
  EXPECT_NE(status.message().find("loop.gguf: Too many levels of symbolic links"),
            std::string::npos)
      << status.message();
  ModelOptions options;
  options.tokenizer_path = loop;
  status = OpenStatus(kHf, options);
  EXPECT_NE(status.message().find("Too many levels of symbolic links"), std::string::npos)
      << status.message();
  auto tokenizer = TextTokenizer::Open(loop);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_NE(tokenizer.status().message().find("Too many levels"), std::string::npos);
  // config.json inside a model folder.
  TempDir folder;
  HfFolderWithConfig(folder, [](nlohmann::json&) {});
  fs::remove(folder / "config.json");
  MakeSymlinkLoop(folder, "config.json");
  status = OpenStatus(folder.str());
  EXPECT_NE(status.message().find("config.json: Too many levels of symbolic links"),
            std::string::npos)
      << status.message();
}

TEST(BadPaths, OverLongPaths) {
  const std::string long_component = "/tmp/" + std::string(300, 'a') + ".gguf";
  std::string deep = "/tmp";
  while (deep.size() < 5000) deep += "/" + std::string(200, 'b');
  for (const std::string& path : {long_component, deep}) {
    const Status status = OpenStatus(path);
    EXPECT_FALSE(status.ok());
    EXPECT_NE(status.message().find("File name too long"), std::string::npos) << status.message();
    EXPECT_LT(status.message().size(), 400u) << "the message repeats the whole path";
    ModelOptions options;
    options.tokenizer_path = path;
    EXPECT_NE(OpenStatus(kHf, options).message().find("File name too long"), std::string::npos);
  }
}

TEST(BadPaths, SessionFiles) {
  auto model = Model::Open(testing::GoldenDir("gemma3_qknorm") + "/gguf/gemma3_qknorm.q8_0.gguf");
  ASSERT_TRUE(model.ok()) << model.status().message();
  TempDir dir;
  Session session(**model);
  Status status = session.Load(MakeFifo(dir, "fifo.session"));
  EXPECT_NE(status.message().find("is a FIFO, not a session file"), std::string::npos)
      << status.message();
  status = session.Load(MakeSymlinkLoop(dir, "loop.session"));
  EXPECT_NE(status.message().find("Too many levels of symbolic links"), std::string::npos)
      << status.message();
  status = session.Load("/tmp/" + std::string(300, 's'));
  EXPECT_NE(status.message().find("File name too long"), std::string::npos) << status.message();
  Chat chat(**model);
  status = chat.Load(dir / "fifo.session");
  EXPECT_NE(status.message().find("is a FIFO"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace gemma
