// Sessions and chat: KV reuse, save/load round trips, refusal of foreign
// files, and context overflow (error, or dropping the oldest turns).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "gemma/gemma.h"
#include "testing/golden_case.h"

namespace gemma {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<Model> Open(const std::string& path, int ctx = 256, const char* kv = "bf16",
                            int batch = 256) {
  ModelOptions options;
  options.context_length = ctx;
  options.kv_cache_type = kv;
  options.batch_size = batch;
  options.parallel = 3;  // the tests hold up to three sessions of one model at once
  auto model = Model::Open(path, options);
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? std::move(model).value() : nullptr;
}

std::string TempPath(const std::string& name) {
  return (fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()))).string();
}

const std::string kGemma3 = testing::GoldenDir("gemma3_qknorm") + "/gguf/gemma3_qknorm.q8_0.gguf";
const std::string kGemma2 = testing::GoldenDir("gemma2_swa") + "/gguf/gemma2_swa.q8_0.gguf";

std::vector<int32_t> Prompt(const std::string& c) {
  return testing::LoadCaseJson(c)["prompt"]["ids"].get<std::vector<int32_t>>();
}

// Cutting a session back after its sliding layers' rings wrapped past the cut
// (window 16 + batch 4 - 1 slots, 30 tokens run beyond it) must not attend to
// overwritten keys: the continuation equals a fresh session's.
TEST(Session, TruncateAfterRingWrapMatchesFreshSession) {
  auto model = Open(kGemma3, 256, "f32", 4);
  ASSERT_TRUE(model);
  const std::vector<int32_t> ids = Prompt("gemma3_qknorm");
  const int cut = 20;
  const std::span<const int32_t> head(ids.data(), cut), rest(ids.data() + cut, 30);
  const std::span<const int32_t> other(ids.data() + 1, 5);  // a different continuation
  Session wrapped(*model);
  ASSERT_TRUE(wrapped.Append(head).ok());
  ASSERT_TRUE(wrapped.Append(rest).ok());
  wrapped.Truncate(cut);
  EXPECT_EQ(wrapped.position(), cut);
  std::vector<float> got, want;
  ASSERT_TRUE(wrapped.Append(other, &got).ok());
  Session fresh(*model);
  ASSERT_TRUE(fresh.Append(head).ok());
  ASSERT_TRUE(fresh.Append(other, &want).ok());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4f) << i;
}

// Saving after part of a prompt and continuing from the loaded file gives the
// logits of an uninterrupted session, for each KV type, and with a batch size
// small enough that the sliding layers' rings have wrapped.
TEST(Session, SaveLoadRoundTrip) {
  for (const char* kv : {"f32", "bf16", "q8_0", "q4_0"}) {
    auto model = Open(kGemma3, 256, kv, 4);
    ASSERT_TRUE(model);
    const std::vector<int32_t> ids = Prompt("gemma3_qknorm");
    const std::span<const int32_t> head(ids.data(), 40), tail(ids.data() + 40, ids.size() - 40);
    Session whole(*model);
    ASSERT_TRUE(whole.Append(ids).ok());

    Session first(*model);
    ASSERT_TRUE(first.Append(head).ok());
    const std::string path = TempPath("gemma_session");
    ASSERT_TRUE(first.Save(path, "hello").ok());
    Session second(*model);
    std::string metadata;
    const Status loaded = second.Load(path, &metadata);
    ASSERT_TRUE(loaded.ok()) << loaded.message();
    EXPECT_EQ(metadata, "hello");
    EXPECT_EQ(second.tokens(), std::vector<int32_t>(head.begin(), head.end()));
    ASSERT_TRUE(second.Append(tail).ok());
    const std::span<const float> a = whole.logits(), b = second.logits();
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin())) << kv;
    fs::remove(path);
  }
}

// A loaded session holds the same keys and values as the one saved, also the
// rows of its sliding layers' blocks that lie before the window: cutting it
// back into them (the block is still held, so Truncate keeps it) attends to
// what the prompt put there, as a fresh session does. Before, Load skipped
// those rows and the continuation read whatever the memory held (zeros in a
// fresh process, another session's rows or heap garbage otherwise).
TEST(Session, LoadThenTruncateBeforeTheWindowMatchesFreshSession) {
  for (const char* kv : {"f32", "bf16", "q8_0", "q4_0"}) {
    auto model = Open(kGemma3, 256, kv, 4);
    ASSERT_TRUE(model);
    const std::vector<int32_t> ids = Prompt("gemma3_qknorm");
    // 40 positions with window 16: the file brings rows 0..39 of the sliding
    // layers' first block; the next query needs only 25..39. Cut back to 30,
    // whose query needs 15..30.
    const int saved = 40, cut = 30;
    const std::span<const int32_t> head(ids.data(), saved), kept(ids.data(), cut);
    const std::span<const int32_t> other(ids.data() + 1, 5);
    Session first(*model);
    ASSERT_TRUE(first.Append(head).ok());
    const std::string path = TempPath("gemma_session_truncate");
    ASSERT_TRUE(first.Save(path).ok());
    Session loaded(*model);
    ASSERT_TRUE(loaded.Load(path).ok());
    fs::remove(path);
    loaded.Truncate(cut);
    ASSERT_EQ(loaded.position(), cut);
    std::vector<float> got, want;
    ASSERT_TRUE(loaded.Append(other, &got).ok());
    Session fresh(*model);
    ASSERT_TRUE(fresh.Append(kept).ok());
    ASSERT_TRUE(fresh.Append(other, &want).ok());
    ASSERT_EQ(got.size(), want.size());
    EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin())) << kv;
  }
}

// What earlier sessions left in the KV memory never reaches a loaded
// session, whatever its bytes: session A loads a file whose rows are all
// 0xff bytes (NaN in every KV type; the stand-in for uninitialized memory,
// which is what a process that allocated and freed memory before the model
// gets), gives its blocks back, and session B, loaded from a genuine file
// into those blocks, continues exactly as an uninterrupted session. Before,
// B's sliding layers kept A's NaN rows before the window, and the attention
// tile (aligned to the block) multiplied them by probability 0: NaN logits.
TEST(Session, LoadIsNotReachedByWhatEarlierSessionsLeftInMemory) {
  for (const char* kv : {"f32", "bf16", "q8_0", "q4_0"}) {
    auto model = Open(kGemma3, 256, kv, 4);
    ASSERT_TRUE(model);
    const std::vector<int32_t> ids = Prompt("gemma3_qknorm");
    const int saved = 40, junk_tokens = 15;  // 15: every row inside the window of 16
    const std::span<const int32_t> head(ids.data(), saved);
    const std::span<const int32_t> tail(ids.data() + saved, ids.size() - saved);
    Session whole(*model);
    ASSERT_TRUE(whole.Append(ids).ok());

    const std::string path = TempPath("gemma_session_clean");
    const std::string junk = TempPath("gemma_session_junk");
    size_t vocab = 0;
    {
      Session first(*model);
      ASSERT_TRUE(first.Append(head).ok());
      ASSERT_TRUE(first.Save(path).ok());
      Session s(*model);
      ASSERT_TRUE(s.Append(std::span<const int32_t>(ids.data(), junk_tokens)).ok());
      ASSERT_TRUE(s.Save(junk).ok());
      vocab = s.logits().size();
    }
    {
      // The file: a 40-byte header, no metadata, the token ids, the logits;
      // then per layer a u32 count of positions and that many K and V rows.
      std::vector<char> bytes;
      {
        std::ifstream in(junk, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      }
      const size_t layers = 6;
      const size_t rows_from = 40 + junk_tokens * sizeof(int32_t) + vocab * sizeof(float);
      ASSERT_GT(bytes.size(), rows_from + layers * sizeof(uint32_t));
      const size_t layer_bytes = (bytes.size() - rows_from) / layers;
      for (size_t layer = 0; layer < layers; ++layer) {
        const size_t at = rows_from + layer * layer_bytes;
        uint32_t kept = 0;
        std::memcpy(&kept, &bytes[at], sizeof(kept));
        ASSERT_EQ(kept, static_cast<uint32_t>(junk_tokens));
        std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(at + sizeof(kept)),
                  bytes.begin() + static_cast<std::ptrdiff_t>(at + layer_bytes), '\xff');
      }
      std::ofstream out(junk, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    {
      Session a(*model);
      const Status status = a.Load(junk);
      ASSERT_TRUE(status.ok()) << status.message();
    }  // its blocks go back to the memory, 0xff rows and all
    fs::remove(junk);

    Session b(*model);
    const Status status = b.Load(path);
    ASSERT_TRUE(status.ok()) << status.message();
    fs::remove(path);
    ASSERT_TRUE(b.Append(tail).ok());
    const std::span<const float> want = whole.logits(), got = b.logits();
    EXPECT_TRUE(std::equal(want.begin(), want.end(), got.begin())) << kv;
  }
}

std::vector<int32_t> LongPrompt(int n) {
  const std::vector<int32_t> ids = Prompt("gemma3_qknorm");
  std::vector<int32_t> out;
  while (out.size() < static_cast<size_t>(n)) out.insert(out.end(), ids.begin(), ids.end());
  out.resize(n);
  return out;
}

// A session longer than its sliding layers keep (window + batch positions,
// here 2 blocks of 64 for window 16 and batch 4, one sequence) loads: the
// sliding layers take only the blocks their window holds, as the session
// that was saved did. Before, Load reserved a block for every 64 positions
// of every layer and answered "the KV memory is full".
TEST(Session, LoadsASessionLongerThanTheSlidingLayersKeep) {
  ModelOptions options;
  options.context_length = 256;
  options.kv_cache_type = "bf16";
  options.batch_size = 4;
  auto model = Model::Open(kGemma3, options);
  ASSERT_TRUE(model.ok()) << model.status().message();
  const std::vector<int32_t> ids = LongPrompt(220);
  const std::span<const int32_t> head(ids.data(), 200), tail(ids.data() + 200, 20);
  const std::string path = TempPath("gemma_session_long");
  std::vector<float> want;
  {  // one sequence at a time: the memory holds one
    Session whole(**model);
    ASSERT_TRUE(whole.Append(ids).ok());
    const std::span<const float> l = whole.logits();
    want.assign(l.begin(), l.end());
  }
  {
    Session first(**model);
    ASSERT_TRUE(first.Append(head).ok());
    ASSERT_TRUE(first.Save(path).ok());
  }
  Session second(**model);
  const Status status = second.Load(path);
  fs::remove(path);
  ASSERT_TRUE(status.ok()) << status.message();
  ASSERT_TRUE(second.Append(tail).ok());
  const std::span<const float> got = second.logits();
  EXPECT_TRUE(std::equal(want.begin(), want.end(), got.begin()));
}

// A session saved by one model and loaded into another (a second Model of the
// same file, as a server or a library user may open, so that the saver's
// blocks are not in the loader's prefix cache), then cut back to a position
// whose window lies in blocks the file does not bring: the prefix is built
// again, and the continuation equals a fresh session's. Before, Load indexed
// those blocks for prefix hits without writing their rows, and Truncate took
// them back as if they held the prompt's keys.
TEST(Session, TruncateAfterLoadNeverFindsRowsTheFileDidNotBring) {
  for (const char* kv : {"f32", "bf16", "q8_0", "q4_0"}) {
    auto saver = Open(kGemma3, 256, kv, 4);
    auto loader = Open(kGemma3, 256, kv, 4);
    ASSERT_TRUE(saver && loader);
    const std::vector<int32_t> ids = LongPrompt(200);  // sliding blocks 0 and 1 left behind
    const std::string path = TempPath("gemma_session_cut");
    {
      Session s(*saver);
      ASSERT_TRUE(s.Append(ids).ok());
      ASSERT_TRUE(s.Save(path).ok());
    }
    Session loaded(*loader);
    const Status status = loaded.Load(path);
    fs::remove(path);
    ASSERT_TRUE(status.ok()) << status.message();
    const int cut = 100;  // its window, 85..100, lies in block 1
    loaded.Truncate(cut);
    ASSERT_EQ(loaded.position(), cut);
    const std::span<const int32_t> other(ids.data() + 1, 5);
    std::vector<float> got, want;
    ASSERT_TRUE(loaded.Append(other, &got).ok());
    Session fresh(*saver);
    ASSERT_TRUE(fresh.Append(std::span<const int32_t>(ids.data(), cut)).ok());
    ASSERT_TRUE(fresh.Append(other, &want).ok());
    ASSERT_EQ(got.size(), want.size());
    EXPECT_TRUE(std::equal(got.begin(), got.end(), want.begin())) << kv;
  }
}

// Sessions share the model's KV memory (ModelOptions::kv_size positions of
// the global layers, in blocks of 64, plus one block per parallel sequence):
// a session that does not fit gets a clear error, not a crash, and memory
// given back serves the next.
TEST(Session, FullKvMemoryIsAClearError) {
  ModelOptions options;
  options.context_length = 256;
  options.kv_size = 128;  // 2 blocks + 1 = 192 positions
  auto model = Model::Open(kGemma3, options);
  ASSERT_TRUE(model.ok());
  const std::vector<int32_t> ids = Prompt("gemma3_qknorm");  // 54 tokens
  Session a(**model);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.Append(ids).ok());  // 162 positions: 3 blocks
  Session b(**model);
  Status status = b.Append(ids);
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("KV memory is full"), std::string::npos) << status.message();
  a.Reset();
  status = b.Append(ids);
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST(Session, LoadRefusesAnotherModelOrKvType) {
  auto gemma3 = Open(kGemma3);
  auto gemma3_f32 = Open(kGemma3, 256, "f32");
  auto gemma2 = Open(kGemma2);
  ASSERT_TRUE(gemma3 && gemma2 && gemma3_f32);
  Session s(*gemma3);
  ASSERT_TRUE(s.Append(Prompt("gemma3_qknorm")).ok());
  const std::string path = TempPath("gemma_session_other");
  ASSERT_TRUE(s.Save(path).ok());
  Session other(*gemma2);
  Status status = other.Load(path);
  EXPECT_NE(status.message().find("different model"), std::string::npos) << status.message();
  Session wrong_type(*gemma3_f32);
  status = wrong_type.Load(path);
  EXPECT_NE(status.message().find("--kv-type bf16"), std::string::npos) << status.message();
  // A truncated file is an error too, never a crash.
  fs::resize_file(path, fs::file_size(path) / 2);
  Session same(*gemma3);
  status = same.Load(path);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(same.position(), 0);
  fs::remove(path);
}

// Each turn prefills only its own tokens: the session after two turns equals
// one fresh prefill of the whole conversation.
TEST(Chat, SecondTurnReusesTheCache) {
  auto model = Open(kGemma3, 512, "f32");
  ASSERT_TRUE(model);
  Chat chat(*model, "Be brief.");
  GenerateOptions options;
  options.sampling.temperature = 0;
  options.max_tokens = 5;
  ASSERT_TRUE(chat.Send("Hello there", options, nullptr).ok());
  const int after_first = chat.session().position();
  ASSERT_TRUE(chat.Send("And again", options, nullptr).ok());
  EXPECT_GT(chat.session().position(), after_first);
  const std::vector<int32_t> all = chat.session().tokens();
  // Exactly one BOS, at the start.
  EXPECT_EQ(std::count(all.begin(), all.end(), 2), 1);
  EXPECT_EQ(all[0], 2);
  // Turn markers are the control ids (<start_of_turn> 4, <end_of_turn> 5 in the
  // tiny vocabulary): user, model, user, model opened; one turn closed.
  EXPECT_EQ(std::count(all.begin(), all.end(), 4), 4);
  EXPECT_EQ(std::count(all.begin(), all.end(), 5), 3);
  Session fresh(*model);
  ASSERT_TRUE(fresh.Append(all).ok());
  const std::span<const float> a = fresh.logits(), b = chat.session().logits();
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-4f * (1 + std::fabs(a[i])));
}

TEST(Chat, OverflowIsAnErrorUnlessTurnsMayBeDropped) {
  auto model = Open(kGemma3, 96);
  ASSERT_TRUE(model);
  GenerateOptions options;
  options.sampling.temperature = 0;
  options.max_tokens = 8;
  Chat chat(*model);
  const std::string turn = "the quick brown fox jumps over the lazy dog";
  Status last;
  int sent = 0;
  for (; sent < 10; ++sent) {
    auto answer = chat.Send(turn, options, nullptr);
    if (!answer.ok()) {
      last = answer.status();
      break;
    }
  }
  ASSERT_LT(sent, 10) << "a 96-token context cannot hold 10 turns";
  EXPECT_NE(last.message().find("context full"), std::string::npos) << last.message();
  const size_t turns_before = chat.history().size();
  EXPECT_EQ(turns_before, static_cast<size_t>(sent));  // nothing was lost or garbled

  options.drop_oldest_turns = true;
  auto answer = chat.Send(turn, options, nullptr);
  ASSERT_TRUE(answer.ok()) << answer.status().message();
  EXPECT_LE(chat.history().size(), turns_before);  // old turns went, the new one is in
  EXPECT_EQ(chat.history().back().user, turn);
  EXPECT_LE(chat.session().position(), chat.session().capacity());
  const std::vector<int32_t> tokens = chat.session().tokens();
  EXPECT_EQ(std::count(tokens.begin(), tokens.end(), 2), 1);
}

TEST(Chat, SaveAndResume) {
  auto model = Open(kGemma3, 512);
  ASSERT_TRUE(model);
  GenerateOptions options;
  options.sampling.temperature = 0;
  options.max_tokens = 6;
  Chat chat(*model, "sys");
  ASSERT_TRUE(chat.Send("first", options, nullptr).ok());
  const std::string path = TempPath("gemma_chat");
  ASSERT_TRUE(chat.Save(path).ok());
  auto expected = chat.Send("second", options, nullptr);
  ASSERT_TRUE(expected.ok());

  Chat resumed(*model);
  ASSERT_TRUE(resumed.Load(path).ok());
  ASSERT_EQ(resumed.history().size(), 1u);
  auto answer = resumed.Send("second", options, nullptr);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer.value(), expected.value());
  EXPECT_EQ(resumed.session().tokens(), chat.session().tokens());
  fs::remove(path);
}

}  // namespace
}  // namespace gemma
