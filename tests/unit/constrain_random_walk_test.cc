// Random walks through compiled schemas: from the start, repeatedly pick a
// random token the mask allows until an end-of-generation token is picked;
// the text must then parse as JSON and validate against the schema under an
// independent validator (constrain_validator.h). Along the way the mask must
// agree with the single-token check, must never be empty (no dead ends), and
// the walk must reach an end (termination). Runs on the tiny 512-piece test
// tokenizer and on the real Gemma 3 vocabulary.
#include <gtest/gtest.h>

#include <bit>
#include <random>

#include "constrain_test_util.h"
#include "constrain_validator.h"
#include "server/constrain/json_schema.h"

namespace gemma::constrain {
namespace {

using test_util::MaskBit;

struct Walk {
  std::string text;
  bool completed = false;
  int steps = 0;
  std::string failure;
};

// The k-th set bit of `bits` (k < popcount).
int32_t NthSetBit(const std::vector<uint64_t>& bits, uint64_t k) {
  for (size_t w = 0; w < bits.size(); ++w) {
    const uint64_t n = std::popcount(bits[w]);
    if (k >= n) {
      k -= n;
      continue;
    }
    uint64_t word = bits[w];
    for (; k > 0; --k) word &= word - 1;
    return static_cast<int32_t>(w * 64 + std::countr_zero(word));
  }
  return -1;
}

uint64_t PopCount(const std::vector<uint64_t>& bits) {
  uint64_t n = 0;
  for (const uint64_t w : bits) n += std::popcount(w);
  return n;
}

// After `steer_after` steps the walk prefers tokens that close something
// (", ], }), and it takes an allowed end token half of the time: unbounded
// parts of a schema (recursion, open maps) then end with high probability.
Walk RandomWalk(const std::shared_ptr<const CompiledGrammar>& g, uint64_t seed, int max_steps,
                int steer_after, int mask_checks_per_step) {
  const VocabIndex& vocab = g->vocab();
  const size_t words = (vocab.size() + 63) / 64;
  std::vector<uint64_t> closer_bits(words, 0), end_bits(words, 0);
  for (int32_t id = 0; id < vocab.size(); ++id) {
    if (vocab.kind(id) != TokenKind::kControl &&
        vocab.bytes(id).find_first_of("\"]}") != std::string_view::npos) {
      closer_bits[id >> 6] |= uint64_t{1} << (id & 63);
    }
  }
  for (const int32_t id : g->end_tokens()) end_bits[id >> 6] |= uint64_t{1} << (id & 63);
  Matcher m(g);
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> mask(words), body(words), closers(words);
  Walk w;
  for (; w.steps < max_steps; ++w.steps) {
    m.FillMask(mask);
    std::vector<int32_t> ends;
    for (const int32_t id : g->end_tokens()) {
      if (MaskBit(mask, id)) ends.push_back(id);
    }
    for (size_t i = 0; i < words; ++i) {
      body[i] = mask[i] & ~end_bits[i];
      closers[i] = body[i] & closer_bits[i];
    }
    const uint64_t num_body = PopCount(body), num_closers = PopCount(closers);
    if (num_body == 0 && ends.empty()) {
      w.failure = "empty mask after: " + w.text;
      return w;
    }
    if (ends.empty() == m.CanEnd()) {
      w.failure = "end tokens in the mask disagree with CanEnd()";
      return w;
    }
    // The mask against the single-token check: all tokens or a sample.
    const int checks = mask_checks_per_step < 0 ? vocab.size() : mask_checks_per_step;
    for (int i = 0; i < checks; ++i) {
      const int32_t id = mask_checks_per_step < 0 ? i : static_cast<int32_t>(rng() % vocab.size());
      if (m.Allows(id) != MaskBit(mask, id)) {
        w.failure = "mask and Allows disagree on token " + std::to_string(id) + " after: " + w.text;
        return w;
      }
    }
    if (!ends.empty() && (num_body == 0 || rng() % 2 == 0)) {
      if (!m.Accept(ends[rng() % ends.size()])) w.failure = "end token refused";
      w.completed = m.finished();
      return w;
    }
    const bool steer = w.steps >= steer_after && num_closers > 0 && rng() % 5 != 0;
    const int32_t token =
        steer ? NthSetBit(closers, rng() % num_closers) : NthSetBit(body, rng() % num_body);
    if (!m.Accept(token)) {
      w.failure = "allowed token " + std::to_string(token) + " refused after: " + w.text;
      return w;
    }
    w.text += vocab.bytes(token);
  }
  w.failure = "no end after " + std::to_string(max_steps) + " tokens: " + w.text;
  return w;
}

// Every schema here has a finite or geometrically-ending language, so walks end.
const char* const kSchemas[] = {
    // Scalars with bounds, a closed object with optional fields.
    R"({"type":"object","properties":{
        "name":{"type":"string","minLength":1,"maxLength":12},
        "age":{"type":"integer","minimum":0,"maximum":130},
        "score":{"type":"number","minimum":-1,"maximum":1},
        "tags":{"type":"array","items":{"enum":["a","b","c"]},"minItems":1,"maxItems":4},
        "active":{"type":"boolean"},
        "nick":{"type":["string","null"],"maxLength":5}},
      "required":["name","age","tags"],"additionalProperties":false})",
    // A discriminated union with formats.
    R"({"type":"array","maxItems":3,"items":{"oneOf":[
        {"type":"object","properties":{"kind":{"const":"event"},"on":{"type":"string","format":"date"},
          "id":{"type":"string","format":"uuid"}},"required":["kind","on","id"],"additionalProperties":false},
        {"type":"object","properties":{"kind":{"const":"meeting"},"at":{"type":"string","format":"date-time"},
          "room":{"type":"string","pattern":"^[A-Z]{2}-\\d{3}$"}},"required":["kind","at","room"],
          "additionalProperties":false}]}})",
    // A tuple, a map with a value schema, an IP and an exclusive range.
    R"({"type":"object","properties":{
        "point":{"type":"array","prefixItems":[{"type":"number","exclusiveMinimum":0,"maximum":10},
                 {"type":"integer","exclusiveMaximum":-5,"minimum":-20}],"items":false,"minItems":2},
        "counts":{"type":"object","additionalProperties":{"type":"integer","minimum":0,"maximum":9}},
        "host":{"type":"string","format":"ipv4"}},"required":["point","counts","host"]})",
    // Recursion through $defs.
    R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer","minimum":0,"maximum":9},
        "kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["v"],
        "additionalProperties":false}},"$ref":"#/$defs/node"})",
    // allOf and anyOf with sibling keywords, strings with a length range.
    R"({"allOf":[{"type":"object","properties":{"a":{"type":"string","minLength":2,"maxLength":4}},
        "required":["a"]},{"properties":{"b":{"anyOf":[{"type":"null"},{"type":"boolean"}]}},"required":["b"]}]})",
    // Minimums without maximums (ended by the walk's steering).
    R"({"type":"object","properties":{"s":{"type":"string","minLength":2},
        "xs":{"type":"array","items":{"type":"integer","minimum":0,"maximum":9},"minItems":2}},
        "required":["s","xs"],"additionalProperties":false})",
};

void RunWalks(const std::shared_ptr<const VocabIndex>& vocab, int seeds, int mask_checks) {
  for (const char* schema : kSchemas) {
    const Constraint c = CompileJsonSchemaText(schema, vocab);
    ASSERT_TRUE(c.ok()) << c.error;
    const test_util::SchemaValidator validator(nlohmann::json::parse(schema));
    int completed = 0;
    for (int seed = 0; seed < seeds; ++seed) {
      const Walk w = RandomWalk(c.grammar, 1000 + seed, 4000, 64, mask_checks);
      ASSERT_TRUE(w.failure.empty()) << "seed " << seed << ": " << w.failure << "\nschema " << schema;
      ASSERT_TRUE(w.completed);
      nlohmann::json parsed;
      ASSERT_NO_THROW(parsed = nlohmann::json::parse(w.text)) << w.text;
      std::string why;
      EXPECT_TRUE(validator.Validate(parsed, &why)) << why << "\n" << w.text << "\nschema " << schema;
      ++completed;
    }
    EXPECT_EQ(completed, seeds);
  }
}

TEST(ConstrainRandomWalk, TinyVocabulary) {
  ASSERT_TRUE(test_util::TinyVocab()->covers_all_bytes());
  RunWalks(test_util::TinyVocab(), 40, /*every token, every step*/ -1);
}

TEST(ConstrainRandomWalk, Gemma3Vocabulary) {
  REQUIRE_GEMMA3_VOCAB();
  EXPECT_EQ(test_util::Gemma3Vocab()->size(), 262145);
  EXPECT_TRUE(test_util::Gemma3Vocab()->covers_all_bytes());
  RunWalks(test_util::Gemma3Vocab(), 12, 64);
}

TEST(ConstrainRandomWalk, AnyJsonObjectParses) {
  for (const auto& vocab : {test_util::TinyVocab(), test_util::Gemma3Vocab()}) {
    if (!vocab) continue;  // Gemma 3 missing: the test above reports it
    const Constraint c = CompileAnyJson(/*object_only=*/true, vocab);
    ASSERT_TRUE(c.ok()) << c.error;
    for (int seed = 0; seed < 20; ++seed) {
      const Walk w = RandomWalk(c.grammar, 77 + seed, 4000, 16, 32);
      ASSERT_TRUE(w.failure.empty()) << w.failure;
      nlohmann::json parsed;
      ASSERT_NO_THROW(parsed = nlohmann::json::parse(w.text)) << w.text;
      EXPECT_TRUE(parsed.is_object()) << w.text;
    }
  }
}

}  // namespace
}  // namespace gemma::constrain
