// JSON Schema compilation: for each supported keyword, texts that must be
// accepted or rejected (written by hand from the JSON Schema and JSON specs),
// the whitespace policy, and invalid or unsupported schemas giving a clear
// error that names the problem.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "constrain_test_util.h"
#include "server/constrain/json_schema.h"

namespace gemma::constrain {
namespace {

using test_util::MakeVocab;
using test_util::Matches;
using test_util::TestVocab;

const TestVocab& Vocab() {
  static const TestVocab v = MakeVocab({"{\"", "\":", "\",", "\"}", "\"]", "true", "null", "  "});
  return v;
}

std::shared_ptr<const CompiledGrammar> Compile(const std::string& schema,
                                               SchemaOptions options = {}) {
  const Constraint c = CompileJsonSchemaText(schema, Vocab().index, options);
  EXPECT_TRUE(c.ok()) << schema << ": " << c.error;
  return c.grammar;
}

void ExpectError(const std::string& schema, const std::string& part) {
  const Constraint c = CompileJsonSchemaText(schema, Vocab().index);
  EXPECT_FALSE(c.ok()) << schema << " compiled";
  EXPECT_NE(c.error.find(part), std::string::npos)
      << schema << ": \"" << c.error << "\" lacks \"" << part << "\"";
}

#define ACCEPTS(g, text) EXPECT_TRUE(Matches(g, Vocab(), text)) << "should accept: " << (text)
#define REJECTS(g, text) EXPECT_FALSE(Matches(g, Vocab(), text)) << "should reject: " << (text)

TEST(ConstrainSchema, Strings) {
  const auto g = Compile(R"({"type":"string"})");
  ACCEPTS(g, R"("abc")");
  ACCEPTS(g, R"("")");
  ACCEPTS(g, R"("a\"b\\c\/d\n\t")");
  ACCEPTS(g, R"("\u00e9\u00C9")");
  ACCEPTS(g, R"("\ud83d\ude00")");  // a surrogate pair
  ACCEPTS(g, "\"h\xC3\xA9llo \xF0\x9F\x98\x80\"");
  REJECTS(g, R"("\ud800")");       // lone surrogate: not parseable
  REJECTS(g, R"("\x41")");         // not a JSON escape
  REJECTS(g, "\"a\nb\"");          // raw control character
  REJECTS(g, "\"\xC3\"");          // truncated UTF-8
  REJECTS(g, "\"\xED\xA0\x80\"");  // a surrogate in UTF-8
  REJECTS(g, "abc");
  REJECTS(g, R"("abc)");

  const auto bounded = Compile(R"({"type":"string","minLength":2,"maxLength":3})");
  ACCEPTS(bounded, R"("ab")");
  ACCEPTS(bounded, R"("abc")");
  ACCEPTS(bounded, "\"\xC3\xA9\xC3\xA9\"");  // 2 code points, 4 bytes
  ACCEPTS(bounded, R"("\n\u0041")");         // escapes count as one character each
  REJECTS(bounded, R"("a")");
  REJECTS(bounded, R"("abcd")");
  REJECTS(bounded, "\"\xC3\xA9\"");

  const auto at_least = Compile(R"({"type":"string","minLength":3})");
  REJECTS(at_least, R"("ab")");
  ACCEPTS(at_least, R"("abc")");
  ACCEPTS(at_least, R"("abcdefghijklmnopqrstuvwxyz")");
}

// Token classes of string rules are shared between grammars on one
// vocabulary (ClassCache). Two rules that differ only in their length bounds
// have the same states and edges, so the bounds must be part of the shape's
// key: a cap of 3 once read the classes of the unbounded rule compiled before
// it and allowed a fourth character (found by schema_fuzz).
TEST(ConstrainSchema, LengthBoundsAreNotSharedBetweenGrammars) {
  const TestVocab v = MakeVocab({"ab", "\"}"});
  auto compile = [&](const std::string& schema) {
    const Constraint c = CompileJsonSchemaText(schema, v.index, {});
    EXPECT_TRUE(c.ok()) << schema << ": " << c.error;
    return c.grammar;
  };
  Matcher unbounded(compile(R"({"type":"string","minLength":1})"));
  ASSERT_TRUE(test_util::AcceptBytes(unbounded, v, "\"abcdef"));
  EXPECT_TRUE(test_util::MaskAgreesWithAllows(unbounded));  // computes the shared classes

  Matcher capped(compile(R"({"type":"string","minLength":1,"maxLength":3})"));
  ASSERT_TRUE(test_util::AcceptBytes(capped, v, "\"a"));
  EXPECT_TRUE(test_util::MaskAgreesWithAllows(capped));
  ASSERT_TRUE(test_util::AcceptBytes(capped, v, "bc"));
  EXPECT_TRUE(test_util::MaskAgreesWithAllows(capped));
  const std::vector<int32_t> allowed = test_util::AllowedTokens(capped);
  EXPECT_EQ(std::count(allowed.begin(), allowed.end(), v.ByteToken('d')), 0);
  EXPECT_EQ(std::count(allowed.begin(), allowed.end(), v.Text(0)), 0);  // "ab"
  EXPECT_EQ(std::count(allowed.begin(), allowed.end(), v.ByteToken('"')), 1);
}

TEST(ConstrainSchema, Integers) {
  const auto g = Compile(R"({"type":"integer"})");
  ACCEPTS(g, "0");
  ACCEPTS(g, "-5");
  ACCEPTS(g, "1234567890");
  REJECTS(g, "01");
  REJECTS(g, "-0");
  REJECTS(g, "1.0");
  REJECTS(g, "1e5");
  REJECTS(g, "+1");
  REJECTS(g, "1234567890123456789");  // 19 digits: beyond the 18-digit policy

  const auto range = Compile(R"({"type":"integer","minimum":-3,"maximum":17})");
  for (const char* ok : {"-3", "-2", "-1", "0", "1", "9", "10", "16", "17"}) ACCEPTS(range, ok);
  for (const char* bad : {"-4", "-10", "18", "20", "99", "170", "100"}) REJECTS(range, bad);

  const auto exclusive =
      Compile(R"({"type":"integer","exclusiveMinimum":99,"exclusiveMaximum":1000})");
  ACCEPTS(exclusive, "100");
  ACCEPTS(exclusive, "999");
  REJECTS(exclusive, "99");
  REJECTS(exclusive, "1000");
  REJECTS(exclusive, "5");

  const auto fractional_bounds = Compile(R"({"type":"integer","minimum":1.5,"maximum":3.5})");
  REJECTS(fractional_bounds, "1");
  ACCEPTS(fractional_bounds, "2");
  ACCEPTS(fractional_bounds, "3");
  REJECTS(fractional_bounds, "4");

  const auto draft4 = Compile(R"({"type":"integer","minimum":0,"exclusiveMinimum":true})");
  REJECTS(draft4, "0");
  ACCEPTS(draft4, "1");
}

TEST(ConstrainSchema, Numbers) {
  const auto g = Compile(R"({"type":"number"})");
  for (const char* ok : {"3.14", "-0.5", "0", "1e10", "1E-5", "2.5e+3", "10", "0.0"})
    ACCEPTS(g, ok);
  for (const char* bad : {".5", "1.", "00", "1e", "--1", "1e100", "0x10", "NaN"}) REJECTS(g, bad);
  REJECTS(g, "-0");  // valid JSON, but never written: a negative number has a non-zero magnitude

  const auto range = Compile(R"({"type":"number","minimum":0.5,"maximum":2.25})");
  for (const char* ok : {"0.5", "0.50", "0.51", "1", "2", "2.2", "2.25", "2.250", "0.9999"})
    ACCEPTS(range, ok);
  for (const char* bad : {"0.49", "0", "-1", "2.26", "2.3", "3", "0.4999", "1e0"})
    REJECTS(range, bad);

  const auto positive = Compile(R"({"type":"number","exclusiveMinimum":0})");
  ACCEPTS(positive, "0.001");
  ACCEPTS(positive, "7");
  REJECTS(positive, "0");
  REJECTS(positive, "0.0");
  REJECTS(positive, "-0.5");

  const auto negative = Compile(R"({"type":"number","minimum":-1.5,"exclusiveMaximum":-0.25})");
  ACCEPTS(negative, "-1.5");
  ACCEPTS(negative, "-1");
  ACCEPTS(negative, "-0.26");
  REJECTS(negative, "-0.25");
  REJECTS(negative, "-1.51");
  REJECTS(negative, "0");

  const auto small = Compile(R"({"type":"number","minimum":1e-3,"maximum":0.002})");
  ACCEPTS(small, "0.001");
  ACCEPTS(small, "0.0015");
  ACCEPTS(small, "0.002");
  REJECTS(small, "0.0009");
  REJECTS(small, "0.0021");
}

TEST(ConstrainSchema, LiteralsAndEnums) {
  const auto b = Compile(R"({"type":"boolean"})");
  ACCEPTS(b, "true");
  ACCEPTS(b, "false");
  REJECTS(b, "True");
  const auto n = Compile(R"({"type":"null"})");
  ACCEPTS(n, "null");
  REJECTS(n, "nil");
  const auto e = Compile(R"({"enum":["red",1,null,{"a":[true]},"tab\there"]})");
  ACCEPTS(e, R"("red")");
  ACCEPTS(e, "1");
  ACCEPTS(e, "null");
  ACCEPTS(e, R"({"a":[true]})");
  ACCEPTS(e, R"("tab\there")");
  REJECTS(e, R"("blue")");
  REJECTS(e, "2");
  const auto typed = Compile(R"({"type":"string","enum":["a",1,"b"]})");
  ACCEPTS(typed, R"("a")");
  REJECTS(typed, "1");
  const auto c = Compile(R"({"const":"only"})");
  ACCEPTS(c, R"("only")");
  REJECTS(c, R"("other")");
  const auto nullable = Compile(R"({"type":["integer","null"]})");
  ACCEPTS(nullable, "3");
  ACCEPTS(nullable, "null");
  REJECTS(nullable, R"("3")");
  const auto openapi = Compile(R"({"type":"string","nullable":true})");
  ACCEPTS(openapi, "null");
  ACCEPTS(openapi, R"("x")");
}

TEST(ConstrainSchema, Objects) {
  const auto g = Compile(R"({"type":"object","properties":{
      "name":{"type":"string"},"age":{"type":"integer"},"ok":{"type":"boolean"}},
      "required":["name","age"]})");
  ACCEPTS(g, R"({"name":"bo","age":4})");
  ACCEPTS(g, R"({"name":"bo","age":4,"ok":true})");
  ACCEPTS(g, "{\n  \"name\": \"bo\",\n  \"age\": 4\n}");
  ACCEPTS(g, R"({ "name" : "bo" , "age" : 4 })");
  REJECTS(g, R"({"age":4,"name":"bo"})");        // declared order
  REJECTS(g, R"({"name":"bo"})");                // missing required
  REJECTS(g, R"({"name":"bo","age":4,"x":1})");  // no additional properties by default
  REJECTS(g, R"({"name":"bo","age":4,})");
  REJECTS(g, R"({"name":"bo",,"age":4})");

  const auto optional_first = Compile(R"({"type":"object","properties":{
      "a":{"type":"integer"},"b":{"type":"integer"},"c":{"type":"integer"}},"required":["c"]})");
  ACCEPTS(optional_first, R"({"c":1})");
  ACCEPTS(optional_first, R"({"a":1,"c":1})");
  ACCEPTS(optional_first, R"({"b":1,"c":1})");
  ACCEPTS(optional_first, R"({"a":1,"b":2,"c":3})");
  REJECTS(optional_first, R"({})");
  REJECTS(optional_first, R"({,"c":1})");

  const auto all_optional = Compile(R"({"type":"object","properties":{"a":{"type":"null"}}})");
  ACCEPTS(all_optional, "{}");
  ACCEPTS(all_optional, "{ }");
  ACCEPTS(all_optional, R"({"a":null})");

  const auto map = Compile(R"({"type":"object","additionalProperties":{"type":"integer"}})");
  ACCEPTS(map, R"({"x":1,"y":2})");
  ACCEPTS(map, "{}");
  REJECTS(map, R"({"x":"a"})");

  // Additional properties may not reuse a declared name (its schema differs).
  const auto mixed = Compile(R"({"type":"object","properties":{"a":{"type":"integer"}},
      "additionalProperties":{"type":"string"}})");
  ACCEPTS(mixed, R"({"a":1,"b":"x"})");
  ACCEPTS(mixed, R"({"ab":"x"})");
  ACCEPTS(mixed, R"({"":"x"})");
  REJECTS(mixed, R"({"a":1,"a":"x"})");
  REJECTS(mixed, R"({"a":"x"})");

  SchemaOptions lenient;
  lenient.forbid_unlisted_properties = false;
  const auto open = Compile(R"({"type":"object","properties":{"a":{"type":"integer"}}})", lenient);
  ACCEPTS(open, R"({"a":1,"z":[1,{"q":null}]})");

  // required names without a property schema, with additional properties allowed.
  const auto required_only =
      Compile(R"({"type":"object","required":["id"],"additionalProperties":true})");
  ACCEPTS(required_only, R"({"id":"anything"})");
  REJECTS(required_only, "{}");
}

TEST(ConstrainSchema, Arrays) {
  const auto g =
      Compile(R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3})");
  ACCEPTS(g, "[1]");
  ACCEPTS(g, "[1, 2,3]");
  ACCEPTS(g, "[ 1 ]");
  ACCEPTS(g, "[\n  1,\n  2\n]");
  REJECTS(g, "[]");
  REJECTS(g, "[1,2,3,4]");
  REJECTS(g, "[1,]");
  REJECTS(g, "[\"1\"]");
  {
    // After the last allowed item no comma may begin: a matcher that took
    // one would be stuck (nothing can follow), and a sampler would be too.
    Matcher m(g);
    ASSERT_TRUE(test_util::AcceptBytes(m, Vocab(), "[1,2,3"));
    EXPECT_FALSE(m.Allows(Vocab().ByteToken(',')));
    ASSERT_TRUE(m.Accept(Vocab().ByteToken(' ')));
    EXPECT_FALSE(m.Allows(Vocab().ByteToken(',')));
    EXPECT_TRUE(m.Allows(Vocab().ByteToken(']')));
  }

  const auto at_least = Compile(R"({"type":"array","items":{"type":"integer"},"minItems":2})");
  REJECTS(at_least, "[1]");
  ACCEPTS(at_least, "[1,2]");
  ACCEPTS(at_least, "[1,2,3,4,5,6,7,8,9,10,11,12]");

  const auto empty_ok = Compile(R"({"type":"array","items":{"type":"string"}})");
  ACCEPTS(empty_ok, "[]");
  ACCEPTS(empty_ok, "[ ]");
  ACCEPTS(empty_ok, R"(["a","b"])");

  const auto tuple =
      Compile(R"({"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],
      "items":false})");
  ACCEPTS(tuple, R"(["a",1])");
  ACCEPTS(tuple, R"(["a"])");
  ACCEPTS(tuple, "[]");
  REJECTS(tuple, R"(["a",1,2])");
  REJECTS(tuple, "[1]");

  const auto tuple_rest = Compile(R"({"type":"array","prefixItems":[{"type":"string"}],
      "items":{"type":"integer"},"minItems":2,"maxItems":3})");
  ACCEPTS(tuple_rest, R"(["a",1])");
  ACCEPTS(tuple_rest, R"(["a",1,2])");
  REJECTS(tuple_rest, R"(["a"])");
  REJECTS(tuple_rest, R"(["a",1,2,3])");
  REJECTS(tuple_rest, R"(["a","b"])");

  const auto draft7 =
      Compile(R"({"type":"array","items":[{"type":"boolean"}],"additionalItems":{"type":"null"}})");
  ACCEPTS(draft7, "[true,null,null]");
  REJECTS(draft7, "[true,false]");
}

TEST(ConstrainSchema, Combinators) {
  const auto any = Compile(R"({"anyOf":[{"type":"string"},{"type":"integer","minimum":5}]})");
  ACCEPTS(any, R"("x")");
  ACCEPTS(any, "7");
  REJECTS(any, "3");
  const auto one = Compile(
      R"({"oneOf":[{"type":"object","properties":{"kind":{"const":"a"},"x":{"type":"integer"}},
      "required":["kind","x"]},{"type":"object","properties":{"kind":{"const":"b"}},"required":["kind"]}]})");
  ACCEPTS(one, R"({"kind":"a","x":1})");
  ACCEPTS(one, R"({"kind":"b"})");
  REJECTS(one, R"({"kind":"b","x":1})");
  const auto siblings =
      Compile(R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},
      "anyOf":[{"required":["a"]},{"required":["b"]}]})");
  ACCEPTS(siblings, R"({"a":1})");
  ACCEPTS(siblings, R"({"b":1})");
  REJECTS(siblings, "{}");
  const auto all = Compile(R"({"allOf":[
      {"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]},
      {"properties":{"b":{"type":"string","maxLength":2}},"required":["b"]},
      {"properties":{"b":{"minLength":1}}}]})");
  ACCEPTS(all, R"({"a":1,"b":"x"})");
  REJECTS(all, R"({"a":1,"b":""})");
  REJECTS(all, R"({"a":1,"b":"xyz"})");
  REJECTS(all, R"({"a":1})");
  // A branch closed with additionalProperties: false keeps the other's extra
  // property out (it would fail that branch).
  const auto closed = Compile(R"({"allOf":[
      {"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":false},
      {"properties":{"b":{"type":"integer"}}}]})");
  ACCEPTS(closed, R"({"a":1})");
  REJECTS(closed, R"({"a":1,"b":2})");
}

TEST(ConstrainSchema, RefsAndRecursion) {
  const auto tree = Compile(R"({"$defs":{"node":{"type":"object","properties":{
      "v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"]}},
      "$ref":"#/$defs/node"})");
  ACCEPTS(tree, R"({"v":1})");
  ACCEPTS(tree, R"({"v":1,"kids":[{"v":2},{"v":3,"kids":[{"v":4,"kids":[]}]}]})");
  REJECTS(tree, R"({"v":1,"kids":[{"w":2}]})");
  const auto defs = Compile(R"({"definitions":{"a~b":{"type":"integer"},"c/d":{"type":"string"}},
      "type":"array","prefixItems":[{"$ref":"#/definitions/a~0b"},{"$ref":"#/definitions/c~1d"}],"items":false})");
  ACCEPTS(defs, R"([1,"x"])");
  REJECTS(defs, R"(["x",1])");
  const auto root =
      Compile(R"({"type":"object","properties":{"next":{"anyOf":[{"$ref":"#"},{"type":"null"}]}},
      "required":["next"]})");
  ACCEPTS(root, R"({"next":{"next":{"next":null}}})");
  REJECTS(root, R"({"next":{}})");
}

TEST(ConstrainSchema, PatternsAndFormats) {
  const auto p = Compile(R"({"type":"string","pattern":"^[a-z]+-\\d{2}$"})");
  ACCEPTS(p, R"("ab-12")");
  REJECTS(p, R"("ab-1")");
  REJECTS(p, R"("Ab-12")");
  const auto unanchored = Compile(R"({"type":"string","pattern":"ab|cd"})");
  ACCEPTS(unanchored, R"("xxabyy")");
  ACCEPTS(unanchored, R"("cd")");
  REJECTS(unanchored, R"("xy")");
  const auto escaped = Compile(R"({"type":"string","pattern":"^[\"\\\\]x\\.$"})");
  ACCEPTS(escaped, R"("\"x.")");  // the quote is written escaped in JSON
  ACCEPTS(escaped, R"("\\x.")");
  REJECTS(escaped, R"("\"xy")");
  const auto classes = Compile(R"({"type":"string","pattern":"^[^0-9\\s]{2,3}\\w?$"})");
  ACCEPTS(classes, R"("ab")");
  ACCEPTS(classes, R"("abc_")");
  REJECTS(classes, R"("a1")");
  REJECTS(classes, R"("a b")");

  const auto date = Compile(R"({"type":"string","format":"date"})");
  for (const char* ok :
       {R"("2024-02-29")", R"("2000-02-29")", R"("2023-12-31")", R"("2023-04-30")"})
    ACCEPTS(date, ok);
  for (const char* bad : {R"("2023-02-29")", R"("1900-02-29")", R"("2024-13-01")",
                          R"("2024-04-31")", R"("2024-1-01")"})
    REJECTS(date, bad);
  const auto dt = Compile(R"({"type":"string","format":"date-time"})");
  ACCEPTS(dt, R"("2024-01-15T10:30:00Z")");
  ACCEPTS(dt, R"("2024-01-15T23:59:59.123+05:30")");
  REJECTS(dt, R"("2024-01-15 10:30:00Z")");
  REJECTS(dt, R"("2024-01-15T24:00:00Z")");
  const auto time = Compile(R"({"type":"string","format":"time"})");
  ACCEPTS(time, R"("08:00:00-03:00")");
  REJECTS(time, R"("08:00")");
  const auto uuid = Compile(R"({"type":"string","format":"uuid"})");
  ACCEPTS(uuid, R"("123e4567-e89b-12d3-a456-426614174000")");
  REJECTS(uuid, R"("123e4567e89b12d3a456426614174000")");
  const auto ip = Compile(R"({"type":"string","format":"ipv4"})");
  ACCEPTS(ip, R"("192.168.0.1")");
  ACCEPTS(ip, R"("255.255.255.255")");
  REJECTS(ip, R"("256.1.1.1")");
  REJECTS(ip, R"("01.1.1.1")");
  const auto email = Compile(R"({"type":"string","format":"email"})");
  ACCEPTS(email, R"("a.b+c@example.co.uk")");
  REJECTS(email, R"("a@b")");
  REJECTS(email, R"("a..b@c.de")");
  REJECTS(email, R"("a@-b.de")");
}

TEST(ConstrainSchema, WhitespaceIsBounded) {
  const auto g =
      Compile(R"({"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]})");
  ACCEPTS(g, "{\n" + std::string(20, ' ') + "\"a\": 1}");
  ACCEPTS(g, "{\n\t\t\"a\":\n1\n}");
  REJECTS(g, "{\n" + std::string(21, ' ') + "\"a\": 1}");
  REJECTS(g, "{\n\n\"a\":1}");
  REJECTS(g, "{  \"a\":1}");  // two spaces
  REJECTS(g, " {\"a\":1}");   // nothing before the value
  REJECTS(g, "{\"a\":1} ");   // nor after it
  SchemaOptions compact;
  compact.whitespace.allow = false;
  const auto c = Compile(R"({"type":"array","items":{"type":"integer"}})", compact);
  ACCEPTS(c, "[1,2]");
  REJECTS(c, "[1, 2]");
}

// A large enum is a large but cheap automaton (a trie of its values): it
// stays within the compile limits that stop the blow-ups above.
TEST(ConstrainSchema, TenThousandValueEnumCompiles) {
  nlohmann::json values = nlohmann::json::array();
  for (int i = 0; i < 10000; ++i) values.push_back("value_" + std::to_string(i) + "_x");
  const auto g = Compile(nlohmann::json({{"enum", values}}).dump());
  ASSERT_NE(g, nullptr);
  ACCEPTS(g, R"("value_0_x")");
  ACCEPTS(g, R"("value_9999_x")");
  REJECTS(g, R"("value_10000_x")");
}

TEST(ConstrainSchema, Errors) {
  ExpectError(R"({"type":"strin"})", "unknown type \"strin\"");
  // Unanchored, "a" then 20 of anything: a deterministic automaton needs a
  // state per subset of the last 21 positions. Refused by the work it would
  // take (BuildLimits::max_subset_members), not after millions of states.
  ExpectError(R"({"type":"string","pattern":"a.{20}"})", "pattern positions");
  ExpectError(R"({"not":{"type":"string"}})", "keyword 'not' is not supported");
  ExpectError(R"({"type":"object","patternProperties":{"^a":{}}})", "'patternProperties'");
  ExpectError(R"({"type":"array","uniqueItems":true})", "uniqueItems");
  ExpectError(R"({"type":"integer","multipleOf":3})", "multipleOf");
  ExpectError(R"({"$ref":"#/$defs/missing"})", "does not resolve");
  ExpectError(R"({"$ref":"https://example.com/s.json"})", "only local $ref");
  ExpectError(R"({"$ref":"#"})", "refers to itself");
  ExpectError(R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})",
              "refers to itself");
  ExpectError(R"({"anyOf":[{"$ref":"#"},{"type":"null"}]})", "left recursion");
  ExpectError(R"({"type":"string","minLength":5,"maxLength":2})",
              "minLength 5 is above maxLength 2");
  ExpectError(R"({"type":"string","minLength":-1})", "minLength must be a non-negative integer");
  ExpectError(R"({"type":"integer","minimum":10,"maximum":5})", "minimum 10 is above maximum 5");
  ExpectError(R"({"type":"integer","minimum":1e30})", "#");
  ExpectError(R"({"type":"array","minItems":3,"maxItems":1})", "minItems 3 is above maxItems 1");
  ExpectError(R"({"type":"array","prefixItems":[{}],"items":false,"minItems":2})",
              "no array satisfies");
  ExpectError(R"({"type":"string","format":"hostname"})", "format 'hostname' is not supported");
  ExpectError(R"({"type":"string","pattern":"(a)\\1"})", "backreferences");
  ExpectError(R"({"type":"string","pattern":"(?=a)b"})", "lookahead");
  ExpectError(R"({"type":"string","pattern":"a{2000}"})", "above 1000");
  ExpectError(R"({"type":"string","pattern":"[a-"})", "unterminated");
  ExpectError(R"({"type":"string","pattern":"a","maxLength":3})",
              "pattern with minLength/maxLength");
  ExpectError(R"({"enum":[]})", "no enum/const value");
  ExpectError(R"({"type":"integer","enum":["a"]})", "no enum/const value");
  ExpectError(R"({"type":"object","required":["x"],"additionalProperties":false})",
              "required property 'x'");
  ExpectError(R"({"allOf":[{"type":"string"},{"type":"integer"}]})", "no common type");
  ExpectError(R"({"allOf":[{"const":1},{"const":2}]})", "const values differ");
  ExpectError(R"([1,2])", "must be an object or a boolean");
  ExpectError("false", "matches nothing");
  ExpectError(R"({"type":"object","properties":{"a":false},"required":["a"]})", "matches nothing");
  ExpectError(R"({"type":)", "not valid JSON");
  ExpectError(R"({"anyOf":[]})", "non-empty array");
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += R"({"type":"array","items":)";
  deep += "{}";
  for (int i = 0; i < 100; ++i) deep += "}";
  ExpectError(deep, "nested deeper than 64");
  std::string very_deep(100000, '[');  // never parsed: refused before nlohmann recurses
  ExpectError(very_deep, "nested too deeply");
  SchemaOptions tiny;
  tiny.max_schema_bytes = 10;
  EXPECT_NE(
      CompileJsonSchemaText(R"({"type":"string"})", Vocab().index, tiny).error.find("too large"),
      std::string::npos);
}

TEST(ConstrainSchema, RequestFormats) {
  const auto& vocab = Vocab().index;
  using J = nlohmann::ordered_json;
  const Constraint text = FromOpenAIResponseFormat(J{{"type", "text"}}, vocab);
  EXPECT_TRUE(text.ok());
  EXPECT_EQ(text.grammar, nullptr);
  const Constraint object = FromOpenAIResponseFormat(J{{"type", "json_object"}}, vocab);
  ASSERT_TRUE(object.ok()) << object.error;
  ACCEPTS(object.grammar, R"({"any":[1,"x",{"y":null}],"b":-2.5e3})");
  REJECTS(object.grammar, "[1]");
  REJECTS(object.grammar, R"("x")");
  const Constraint schema = FromOpenAIResponseFormat(
      J::parse(R"({"type":"json_schema","json_schema":{"name":"n","strict":true,
                   "schema":{"type":"object","properties":{"z":{"type":"integer"},"a":{"type":"integer"}},
                   "required":["z","a"],"additionalProperties":false}}})"),
      vocab);
  ASSERT_TRUE(schema.ok()) << schema.error;
  ACCEPTS(schema.grammar, R"({"z":1,"a":2})");  // declared order survives ordered_json
  REJECTS(schema.grammar, R"({"a":2,"z":1})");
  const Constraint bad = FromOpenAIResponseFormat(J{{"type", "yaml"}}, vocab);
  EXPECT_NE(bad.error.find("not supported"), std::string::npos);
  const Constraint bad_schema = FromOpenAIResponseFormat(
      J::parse(R"({"type":"json_schema","json_schema":{"name":"n","schema":{"type":"bogus"}}})"),
      vocab);
  EXPECT_NE(bad_schema.error.find("unknown type"), std::string::npos);
  const Constraint ollama_json = FromOllamaFormat("json", vocab);
  ASSERT_TRUE(ollama_json.ok());
  ACCEPTS(ollama_json.grammar, "{}");
  const Constraint ollama_schema = FromOllamaFormat(J::parse(R"({"type":"array"})"), vocab);
  ASSERT_TRUE(ollama_schema.ok());
  ACCEPTS(ollama_schema.grammar, "[true, [], {}]");
  EXPECT_TRUE(FromOllamaFormat("", vocab).ok());
  EXPECT_FALSE(FromOllamaFormat("xml", vocab).ok());
  const Constraint any = CompileAnyJson(false, vocab);
  ASSERT_TRUE(any.ok());
  ACCEPTS(any.grammar, "1.5");
  ACCEPTS(any.grammar, R"("s")");
  ACCEPTS(any.grammar, "[[[]]]");
}

}  // namespace
}  // namespace gemma::constrain
