// Cost of constrained decoding on the real Gemma 3 vocabulary (262,144
// pieces; tests/data/downloads/gemma3/tokenizer.json, fetched by
// scripts/fetch_test_data.sh): the one-token check (Allows), the full mask in
// representative states, the per-token average over whole answers, and the
// one-time costs (vocabulary index, schema compile, token classes).
//
//   build/bench/constrain_bench --benchmark_min_time=0.5s
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "server/constrain/json_schema.h"
#include "testing/constrain_vocab.h"

namespace gemma::constrain {
namespace {

const char* kTokenizerPath = GEMMA_REPO_DIR "/tests/data/downloads/gemma3/tokenizer.json";

const Tokenizer& Gemma3() {
  static const Tokenizer* t = [] {
    try {
      return new Tokenizer(Tokenizer::FromTokenizerJson(kTokenizerPath));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\nrun scripts/fetch_test_data.sh first\n", e.what());
      std::exit(1);
    }
  }();
  return *t;
}

std::shared_ptr<const VocabIndex> Vocab() {
  static const auto v = VocabIndexFromTokenizer(Gemma3(), {1, 106});
  return v;
}

// A typical structured-output schema: an object with strings, numbers, an
// enum, an array of objects and a bounded string.
const char* kSchema = R"({"type":"object","properties":{
  "title":{"type":"string"},
  "year":{"type":"integer","minimum":1900,"maximum":2100},
  "rating":{"type":"number","minimum":0,"maximum":10},
  "genre":{"enum":["drama","comedy","documentary","thriller"]},
  "summary":{"type":"string","maxLength":400},
  "cast":{"type":"array","items":{"type":"object","properties":{
      "name":{"type":"string"},"role":{"type":"string"}},"required":["name","role"]},"maxItems":8},
  "available":{"type":"boolean"}},
  "required":["title","year","rating","genre","summary","cast","available"]})";

// What a model might answer, pretty-printed as Gemma tends to.
const char* kAnswer = R"({
  "title": "The Quiet Harbour",
  "year": 1987,
  "rating": 7.8,
  "genre": "drama",
  "summary": "A retired lighthouse keeper returns to the fishing village where he grew up and slowly rebuilds his friendship with the harbour master, while a storm season tests the whole community. Told across one winter, the film is patient, funny in places and quietly moving.",
  "cast": [
    {"name": "Ewan Thorne", "role": "Tomas"},
    {"name": "Maria Delacroix", "role": "Ines"},
    {"name": "Kofi Mensah", "role": "the harbour master"}
  ],
  "available": true
})";

std::shared_ptr<const CompiledGrammar> Grammar() {
  static const auto g = [] {
    const Constraint c = CompileJsonSchemaText(kSchema, Vocab());
    if (!c.ok()) {
      std::fprintf(stderr, "%s\n", c.error.c_str());
      std::exit(1);
    }
    return c.grammar;
  }();
  return g;
}

std::vector<int32_t> AnswerTokens() { return Gemma3().Encode(kAnswer, /*parse_special=*/false); }

// A matcher that has read the answer's first tokens up to `prefix` (bytes).
Matcher MatcherAfter(const std::string& prefix) {
  Matcher m(Grammar());
  for (const int32_t id : Gemma3().Encode(prefix, false)) {
    if (!m.Accept(id)) {
      std::fprintf(stderr, "prefix rejected at token %d\n", id);
      std::exit(1);
    }
  }
  return m;
}

struct State {
  const char* name;
  std::string prefix;
};
const State kStates[] = {
    {"start_of_object", ""},
    {"after_key", "{\n  \"title\""},
    {"inside_long_string",
     std::string("{\n  \"title\": \"The Quiet Harbour\",\n  \"year\": 1987,\n  \"rating\": 7.8,\n"
                 "  \"genre\": \"drama\",\n  \"summary\": \"A retired lighthouse keeper returns to the "
                 "fishing village where he grew up and slowly")},
    {"inside_number", "{\n  \"title\": \"x\",\n  \"year\": 19"},
    {"inside_array", "{\n  \"title\": \"x\",\n  \"year\": 1987,\n  \"rating\": 7.8,\n  \"genre\": \"drama\",\n"
                     "  \"summary\": \"s\",\n  \"cast\": [\n    {\"name\": \"E\", \"role\": \"T\"}"},
};

void BM_FillMask(benchmark::State& state) {
  Matcher m = MatcherAfter(kStates[state.range(0)].prefix);
  std::vector<uint64_t> mask((Vocab()->size() + 63) / 64);
  m.FillMask(mask);  // token classes computed outside the timing
  for (auto _ : state) {
    m.FillMask(mask);
    benchmark::DoNotOptimize(mask.data());
  }
  int64_t allowed = 0;
  for (const uint64_t w : mask) allowed += __builtin_popcountll(w);
  state.counters["allowed"] = static_cast<double>(allowed);
  state.counters["walked_nodes"] = static_cast<double>(m.last_mask_nodes_walked());
  state.SetLabel(kStates[state.range(0)].name);
}
BENCHMARK(BM_FillMask)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond);

// Allows for the token the model would pick (an allowed one) and for a
// disallowed one.
void BM_Allows(benchmark::State& state) {
  Matcher m = MatcherAfter(kStates[state.range(0)].prefix);
  const std::vector<int32_t> full = AnswerTokens();
  const size_t consumed = Gemma3().Encode(kStates[state.range(0)].prefix, false).size();
  const int32_t next = consumed < full.size() ? full[consumed] : 1;
  const int32_t bad = Gemma3().PieceToId("<start_of_image>");
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.Allows(next));
    benchmark::DoNotOptimize(m.Allows(bad));
  }
  state.SetLabel(std::string(kStates[state.range(0)].name) + " (2 checks per iteration)");
}
BENCHMARK(BM_Allows)->DenseRange(0, 4)->Unit(benchmark::kNanosecond);

// The whole answer, token by token, as a sampler that always needs the mask:
// FillMask + Accept per token. Token classes are warm (computed by a first
// pass), as they are after the first request using the schema's shapes.
void BM_AnswerFullMaskPerToken(benchmark::State& state) {
  const std::vector<int32_t> tokens = AnswerTokens();
  std::vector<uint64_t> mask((Vocab()->size() + 63) / 64);
  for (auto _ : state) {
    Matcher m(Grammar());
    for (const int32_t id : tokens) {
      m.FillMask(mask);
      if (!((mask[id >> 6] >> (id & 63)) & 1) || !m.Accept(id)) state.SkipWithError("answer rejected");
    }
    m.FillMask(mask);
    if (!m.Accept(106)) state.SkipWithError("end refused");
  }
  state.counters["tokens"] = static_cast<double>(tokens.size() + 1);
  state.counters["per_token_us"] = benchmark::Counter(
      static_cast<double>(tokens.size() + 1), benchmark::Counter::kIsIterationInvariantRate |
                                                  benchmark::Counter::kInvert);
}
BENCHMARK(BM_AnswerFullMaskPerToken)->Unit(benchmark::kMillisecond);

// As llama.cpp's sampler does: check the unconstrained choice first; the mask
// is only needed when it is rejected (never here: the answer is valid).
void BM_AnswerAllowsFirstPerToken(benchmark::State& state) {
  const std::vector<int32_t> tokens = AnswerTokens();
  for (auto _ : state) {
    Matcher m(Grammar());
    for (const int32_t id : tokens) {
      if (!m.Allows(id) || !m.Accept(id)) state.SkipWithError("answer rejected");
    }
    if (!m.Accept(106)) state.SkipWithError("end refused");
  }
  state.counters["per_token_us"] = benchmark::Counter(
      static_cast<double>(tokens.size() + 1), benchmark::Counter::kIsIterationInvariantRate |
                                                  benchmark::Counter::kInvert);
}
BENCHMARK(BM_AnswerAllowsFirstPerToken)->Unit(benchmark::kMicrosecond);

// One-time costs.
void BM_CompileSchema(benchmark::State& state) {
  for (auto _ : state) {
    const Constraint c = CompileJsonSchemaText(kSchema, Vocab());
    benchmark::DoNotOptimize(c.grammar.get());
  }
}
BENCHMARK(BM_CompileSchema)->Unit(benchmark::kMillisecond);

// A new grammar's classes with no shared shapes cached yet: the first request
// with a new schema pays this (shapes shared with earlier grammars are free).
void BM_ColdClassesForAnswer(benchmark::State& state) {
  const std::vector<int32_t> tokens = AnswerTokens();
  std::vector<uint64_t> mask((Vocab()->size() + 63) / 64);
  for (auto _ : state) {
    state.PauseTiming();
    // A fresh vocabulary index has an empty class cache.
    const auto vocab = VocabIndexFromTokenizer(Gemma3(), {1, 106});
    const Constraint c = CompileJsonSchemaText(kSchema, vocab);
    state.ResumeTiming();
    Matcher m(c.grammar);
    for (const int32_t id : tokens) {
      m.FillMask(mask);
      m.Accept(id);
    }
    state.counters["classes"] = static_cast<double>(c.grammar->num_classes_computed());
  }
}
BENCHMARK(BM_ColdClassesForAnswer)->Unit(benchmark::kMillisecond)->Iterations(2);

void BM_BuildVocabIndex(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(VocabIndexFromTokenizer(Gemma3(), {1, 106}).get());
  state.counters["trie_nodes"] = static_cast<double>(Vocab()->num_nodes());
}
BENCHMARK(BM_BuildVocabIndex)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace gemma::constrain
