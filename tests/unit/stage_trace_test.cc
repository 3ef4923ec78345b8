// Session::set_stage_observer, the named debug hook for the forward pass's
// intermediates: the residual stream it reports matches the reference
// implementations' hidden states (the golden cases'
// expected_prompt_hidden_states) at every layer of every generation, its
// per-layer stages are what their names say (the layer's output is the sum
// of the branches it reports), and it observes only its own session.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gemma/gemma.h"
#include "testing/golden_case.h"

namespace gemma {
namespace {

struct Recorded {
  std::vector<float> values;  // rows appended over the steps
  int rows = 0, width = 0;
  std::vector<int> first_positions;  // of each step's rows
};

// (layer, stage) -> what was seen; `order` lists the stages in the order
// they were first seen.
struct Recorder {
  std::map<std::pair<int, std::string>, Recorded> stages;
  std::vector<std::pair<int, std::string>> order;
  void operator()(const StageValues& v) {
    const std::pair<int, std::string> key{v.layer, std::string(v.stage)};
    auto [it, added] = stages.try_emplace(key);
    if (added) order.push_back(key);
    Recorded& r = it->second;
    r.values.insert(r.values.end(), v.values.begin(), v.values.end());
    r.rows += v.rows;
    r.width = v.width;
    r.first_positions.push_back(v.first_position);
    EXPECT_EQ(v.values.size(), static_cast<size_t>(v.rows) * v.width) << v.stage;
  }
  const Recorded* Find(int layer, const std::string& stage) const {
    const auto it = stages.find({layer, stage});
    return it == stages.end() ? nullptr : &it->second;
  }
};

std::vector<int32_t> Prompt(const nlohmann::json& c) {
  return c["prompt"]["ids"].get<std::vector<int32_t>>();
}

std::unique_ptr<Model> OpenExact(const std::string& case_name, int batch_size = 256) {
  ModelOptions options;
  options.exact = true;
  options.kv_cache_type = "f32";
  options.threads = 2;
  options.batch_size = batch_size;
  auto model = Model::Open(testing::GoldenDir(case_name) + "/hf", options);
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? std::move(*model) : nullptr;
}

class StageTraceTest : public ::testing::TestWithParam<const char*> {};

// The embedding, every layer's output and (where the reference stored it)
// the final norm's output, through the public hook on the --exact path,
// within the case's f32 bar relative to each stage's largest value; and the
// logits stage is what Append returned.
TEST_P(StageTraceTest, ResidualStreamMatchesTheReferenceAtEveryLayer) {
  const std::string name = GetParam();
  const nlohmann::json c = testing::LoadCaseJson(name);
  std::unique_ptr<Model> model = OpenExact(name);
  ASSERT_NE(model, nullptr);
  Session session(*model);
  Recorder recorder;
  session.set_stage_observer([&](const StageValues& v) { recorder(v); });
  std::vector<float> logits;
  const std::vector<int32_t> prompt = Prompt(c);
  ASSERT_TRUE(session.Append(prompt, &logits).ok());

  const int L = model->info().num_layers;
  const int H = model->info().hidden_size;
  const size_t stage_size = prompt.size() * H;
  const std::vector<float> expected =
      testing::LoadF32(testing::GoldenDir(name) + "/logits/expected_prompt_hidden_states.f32.bin");
  const size_t stages = expected.size() / stage_size;
  ASSERT_TRUE(stages == static_cast<size_t>(L) + 1 || stages == static_cast<size_t>(L) + 2);
  std::vector<const Recorded*> ours = {recorder.Find(-1, "embedding")};
  for (int l = 0; l < L; ++l) ours.push_back(recorder.Find(l, "layer_out"));
  ours.push_back(recorder.Find(-1, "final_norm"));
  const double bar = c["suggested_tolerances"]["f32_compute"]["max_rel_diff"].get<double>();
  for (size_t s = 0; s < stages; ++s) {
    ASSERT_NE(ours[s], nullptr) << "stage " << s;
    ASSERT_EQ(ours[s]->values.size(), stage_size) << "stage " << s;
    double diff = 0, scale = 0;
    for (size_t i = 0; i < stage_size; ++i) {
      const double e = expected[s * stage_size + i];
      diff = std::max(diff, std::fabs(static_cast<double>(ours[s]->values[i]) - e));
      scale = std::max(scale, std::fabs(e));
    }
    EXPECT_LE(diff / scale, bar) << name << " stage " << s;
  }

  // Logits: the same values Append returned, but for the padding rows it masks.
  const Recorded* traced = recorder.Find(-1, "logits");
  ASSERT_NE(traced, nullptr);
  ASSERT_EQ(traced->values.size(), logits.size());
  const int vocab = model->info().vocab_size;
  const int real = std::min(vocab, model->info().tokenizer_vocab_size);
  for (size_t row = 0; row < prompt.size(); ++row) {
    ASSERT_TRUE(
        std::equal(&logits[row * vocab], &logits[row * vocab] + real, &traced->values[row * vocab]))
        << "row " << row;
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, StageTraceTest,
                         ::testing::Values("gemma1_mqa", "gemma2_swa", "gemma3_h256",
                                           "gemma3_qknorm", "gemma4_dense", "gemma4_e2b",
                                           "gemma4_moe", "gemma3n_e2b"));

// The stages of each layer come in the order they are computed, with the
// widths the layer's shape gives, and the layer's output is exactly its
// input plus the two branches it reports (Gemma 2 and 3: sandwich norms, no
// layer scalar), summed as the forward pass sums them.
TEST(StageTrace, StagesAreWhatTheirNamesSay) {
  for (const char* name : {"gemma2_swa", "gemma3_qknorm"}) {
    SCOPED_TRACE(name);
    std::unique_ptr<Model> model = OpenExact(name);
    ASSERT_NE(model, nullptr);
    Session session(*model);
    Recorder recorder;
    session.set_stage_observer([&](const StageValues& v) { recorder(v); });
    ASSERT_TRUE(session.Append(Prompt(testing::LoadCaseJson(name))).ok());
    const ModelInfo& info = model->info();
    const std::vector<std::string> per_layer = {"attn_norm", "q",        "k",        "v",
                                                "attn",      "attn_out", "ffn_norm", "ffn_hidden",
                                                "ffn_out",   "layer_out"};
    std::vector<std::pair<int, std::string>> expected_order = {{-1, "embedding"}};
    for (int l = 0; l < info.num_layers; ++l) {
      for (const std::string& s : per_layer) expected_order.emplace_back(l, s);
    }
    expected_order.emplace_back(-1, "final_norm");
    expected_order.emplace_back(-1, "logits");
    EXPECT_EQ(recorder.order, expected_order);

    const Recorded* previous = recorder.Find(-1, "embedding");
    for (int l = 0; l < info.num_layers; ++l) {
      const LayerInfo& li = info.layers[l];
      EXPECT_EQ(recorder.Find(l, "q")->width, li.num_attention_heads * li.head_dim);
      EXPECT_EQ(recorder.Find(l, "k")->width, li.num_key_value_heads * li.head_dim);
      EXPECT_EQ(recorder.Find(l, "attn")->width, li.num_attention_heads * li.head_dim);
      EXPECT_EQ(recorder.Find(l, "ffn_hidden")->width, li.intermediate_size);
      const Recorded* attn = recorder.Find(l, "attn_out");
      const Recorded* ffn = recorder.Find(l, "ffn_out");
      const Recorded* out = recorder.Find(l, "layer_out");
      ASSERT_EQ(out->values.size(), previous->values.size());
      size_t mismatches = 0;
      for (size_t i = 0; i < out->values.size(); ++i) {
        const float sum = (previous->values[i] + attn->values[i]) + ffn->values[i];
        mismatches += sum != out->values[i];
      }
      EXPECT_EQ(mismatches, 0u) << "layer " << l;
      previous = out;
    }
    // Only the last row's logits were asked for: the final norm holds that row.
    const Recorded* final_norm = recorder.Find(-1, "final_norm");
    EXPECT_EQ(final_norm->rows, 1);
    EXPECT_EQ(final_norm->first_positions, std::vector<int>{53});
  }
}

// Gemma 4 E2B: the layers that read another layer's keys and values report
// no k or v of their own; every layer reports its per-layer-input branch.
TEST(StageTrace, KvSharingLayersReportNoKeysOrValues) {
  std::unique_ptr<Model> model = OpenExact("gemma4_e2b");
  ASSERT_NE(model, nullptr);
  Session session(*model);
  Recorder recorder;
  session.set_stage_observer([&](const StageValues& v) { recorder(v); });
  ASSERT_TRUE(session.Append(Prompt(testing::LoadCaseJson("gemma4_e2b"))).ok());
  int shared = 0;
  for (int l = 0; l < model->info().num_layers; ++l) {
    const bool own_kv = model->info().layers[l].kv_source_layer < 0;
    shared += !own_kv;
    EXPECT_EQ(recorder.Find(l, "k") != nullptr, own_kv) << "layer " << l;
    EXPECT_EQ(recorder.Find(l, "v") != nullptr, own_kv) << "layer " << l;
    EXPECT_NE(recorder.Find(l, "per_layer_out"), nullptr) << "layer " << l;
  }
  EXPECT_GT(shared, 0);
  EXPECT_NE(recorder.Find(-1, "per_layer_inputs"), nullptr);
}

// A prompt longer than the batch runs in steps: each stage is reported per
// step with the position of its first row. Another session's steps are not
// reported, and an empty observer stops the reports.
TEST(StageTrace, ObserverSeesItsOwnSessionsStepsUntilCleared) {
  std::unique_ptr<Model> model = OpenExact("gemma3_qknorm", /*batch_size=*/16);
  ASSERT_NE(model, nullptr);
  const std::vector<int32_t> prompt = Prompt(testing::LoadCaseJson("gemma3_qknorm"));
  ASSERT_EQ(prompt.size(), 54u);
  Session observed(*model), other(*model);
  Recorder recorder;
  observed.set_stage_observer([&](const StageValues& v) { recorder(v); });
  ASSERT_TRUE(other.Append(prompt).ok());
  EXPECT_TRUE(recorder.order.empty());
  ASSERT_TRUE(observed.Append(prompt).ok());
  const Recorded* embedding = recorder.Find(-1, "embedding");
  ASSERT_NE(embedding, nullptr);
  EXPECT_EQ(embedding->rows, 54);
  EXPECT_EQ(embedding->first_positions, (std::vector<int>{0, 16, 32, 48}));
  // One decode step: one row at position 54.
  ASSERT_TRUE(observed.Append(std::vector<int32_t>{prompt[1]}).ok());
  EXPECT_EQ(embedding->first_positions.back(), 54);
  const size_t seen = recorder.order.size();
  const int rows = embedding->rows;
  observed.set_stage_observer(nullptr);
  ASSERT_TRUE(observed.Append(std::vector<int32_t>{prompt[2]}).ok());
  EXPECT_EQ(recorder.order.size(), seen);
  EXPECT_EQ(embedding->rows, rows);
}

}  // namespace
}  // namespace gemma
