// The grammar IR and the matcher on hand-built grammars: byte strings that
// must be accepted or rejected, counted rules, recursion, token literals,
// errors for grammars that cannot work, and the full mask agreeing with the
// single-token check.
#include <gtest/gtest.h>

#include "constrain_test_util.h"
#include "server/constrain/grammar.h"
#include "server/constrain/matcher.h"

namespace gemma::constrain {
namespace {

using test_util::AcceptBytes;
using test_util::MakeVocab;
using test_util::MaskAgreesWithAllows;
using test_util::Matches;
using test_util::TestVocab;

std::shared_ptr<const CompiledGrammar> Compile(GrammarBuilder& b, GrammarBuilder::Rule root,
                                               const TestVocab& v) {
  return CompiledGrammar::Create(b.Build(root), v.index);
}

TEST(ConstrainGrammar, LiteralAltStar) {
  const TestVocab v = MakeVocab({"ab", "bc", "d", "abcd"});
  GrammarBuilder b;
  const auto root = b.AddRule("root");
  // (a | bc)* d
  b.SetBody(root, b.Seq({b.Star(b.Alt({b.Literal("a"), b.Literal("bc")})), b.Literal("d")}));
  const auto g = Compile(b, root, v);
  EXPECT_TRUE(Matches(g, v, "d"));
  EXPECT_TRUE(Matches(g, v, "abcad"));
  EXPECT_TRUE(Matches(g, v, "bcbcd"));
  EXPECT_FALSE(Matches(g, v, ""));
  EXPECT_FALSE(Matches(g, v, "abd"));  // b without c
  EXPECT_FALSE(Matches(g, v, "ad d"));
  EXPECT_FALSE(Matches(g, v, "a"));  // not complete
  // Multi-byte tokens: "ab" is a then b (b must be followed by c), "abcd" whole.
  Matcher m(g);
  EXPECT_TRUE(m.Allows(v.Text(0)));   // "ab"
  EXPECT_TRUE(m.Allows(v.Text(3)));   // "abcd"
  EXPECT_TRUE(m.Allows(v.Text(2)));   // "d"
  EXPECT_FALSE(m.Allows(v.eos));      // nothing matched yet
  EXPECT_TRUE(MaskAgreesWithAllows(m));
  ASSERT_TRUE(m.Accept(v.Text(0)));   // "ab"
  EXPECT_FALSE(m.Allows(v.Text(2)));  // "d" after a dangling b
  EXPECT_TRUE(m.Allows(v.ByteToken('c')));
  EXPECT_TRUE(MaskAgreesWithAllows(m));
  ASSERT_TRUE(m.Accept(v.ByteToken('c')));
  ASSERT_TRUE(m.Accept(v.Text(2)));
  EXPECT_TRUE(m.CanEnd());
  EXPECT_TRUE(m.MustEnd());
  EXPECT_TRUE(MaskAgreesWithAllows(m));
  EXPECT_TRUE(m.Accept(v.eos));
  EXPECT_TRUE(m.finished());
  EXPECT_FALSE(m.Allows(v.ByteToken('a')));
}

TEST(ConstrainGrammar, CountedLoopBounds) {
  const TestVocab v = MakeVocab({"\"ab", "abc", "abcde", "c\"", "\""});
  GrammarBuilder b;
  const auto root = b.AddRule("str");
  // "[a-z]{2,4}"
  b.SetCountedBody(root, {b.Literal("\""), b.Bytes('a', 'z'), b.Empty(), b.Literal("\""),
                          b.Literal("\""), 2, 4});
  const auto g = Compile(b, root, v);
  EXPECT_FALSE(Matches(g, v, "\"\""));
  EXPECT_FALSE(Matches(g, v, "\"a\""));
  EXPECT_TRUE(Matches(g, v, "\"ab\""));
  EXPECT_TRUE(Matches(g, v, "\"abcd\""));
  EXPECT_FALSE(Matches(g, v, "\"abcde\""));
  EXPECT_FALSE(Matches(g, v, "\"aB\""));
  Matcher m(g);
  EXPECT_TRUE(MaskAgreesWithAllows(m));
  ASSERT_TRUE(m.Accept(v.ByteToken('"')));
  EXPECT_TRUE(m.Allows(v.Text(1)));    // "abc": 3 letters fit
  EXPECT_FALSE(m.Allows(v.Text(2)));   // "abcde": 5 do not
  EXPECT_FALSE(m.Allows(v.Text(4)));   // closing quote too early
  EXPECT_TRUE(MaskAgreesWithAllows(m));
  ASSERT_TRUE(m.Accept(v.ByteToken('a')));
  EXPECT_TRUE(m.Allows(v.Text(3)));    // c" closes after a + c: the minimum of 2 letters
  EXPECT_TRUE(MaskAgreesWithAllows(m));
  ASSERT_TRUE(m.Accept(v.Text(1)));    // a + abc = 4 letters
  EXPECT_FALSE(m.Allows(v.ByteToken('a')));
  EXPECT_TRUE(m.Allows(v.Text(4)));
  EXPECT_TRUE(MaskAgreesWithAllows(m));
}

TEST(ConstrainGrammar, RecursionAndTailCalls) {
  const TestVocab v = MakeVocab({"((", "))", "()"});
  GrammarBuilder b;
  const auto parens = b.AddRule("parens");
  // P := "(" P* ")"
  b.SetBody(parens, b.Seq({b.Literal("("), b.Star(b.Call(parens)), b.Literal(")")}));
  const auto g = Compile(b, parens, v);
  EXPECT_TRUE(Matches(g, v, "()"));
  EXPECT_TRUE(Matches(g, v, "(()(()))"));
  EXPECT_FALSE(Matches(g, v, "(()"));
  EXPECT_FALSE(Matches(g, v, "())"));
  Matcher m(g);
  ASSERT_TRUE(m.Accept(v.Text(0)));  // ((
  EXPECT_TRUE(MaskAgreesWithAllows(m));
  ASSERT_TRUE(m.Accept(v.Text(2)));  // ()
  EXPECT_TRUE(m.Allows(v.Text(1)));  // ))
  EXPECT_TRUE(MaskAgreesWithAllows(m));
  ASSERT_TRUE(m.Accept(v.Text(1)));
  EXPECT_TRUE(m.MustEnd());

  // Right recursion runs in constant stack: L := "a" L | "".
  GrammarBuilder b2;
  const auto list = b2.AddRule("list");
  b2.SetBody(list, b2.Alt({b2.Seq({b2.Literal("a"), b2.Call(list)}), b2.Empty()}));
  const auto g2 = Compile(b2, list, v);
  Matcher m2(g2);
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(m2.Accept(v.ByteToken('a')));
  EXPECT_TRUE(m2.CanEnd());
  EXPECT_EQ(m2.num_stacks(), 1u);
}

TEST(ConstrainGrammar, TokenLiterals) {
  const TestVocab v = MakeVocab({"x", "<q>"}, {"<q>"});
  GrammarBuilder b;
  const auto root = b.AddRule("root");
  const int32_t quote = v.index->FindControlToken("<q>");
  ASSERT_EQ(quote, v.Control(0));
  b.SetBody(root, b.Seq({b.Token(quote), b.Star(b.Bytes('a', 'z')), b.Token(quote)}));
  const auto g = Compile(b, root, v);
  Matcher m(g);
  EXPECT_TRUE(m.Allows(quote));
  EXPECT_FALSE(m.Allows(v.Text(1)));  // the text "<q>" is not the token
  EXPECT_TRUE(MaskAgreesWithAllows(m));
  ASSERT_TRUE(m.Accept(quote));
  ASSERT_TRUE(m.Accept(v.Text(0)));
  EXPECT_TRUE(MaskAgreesWithAllows(m));
  ASSERT_TRUE(m.Accept(quote));
  EXPECT_TRUE(m.MustEnd());
  EXPECT_EQ(test_util::AllowedTokens(m), std::vector<int32_t>{v.eos});
}

TEST(ConstrainGrammar, Utf8SplitAcrossByteTokens) {
  const TestVocab v = MakeVocab({"é", "\xC3"});  // a whole character and a lone lead byte
  GrammarBuilder b;
  const auto root = b.AddRule("root");
  b.SetBody(root, b.Plus(b.Literal("é")));  // C3 A9
  const auto g = Compile(b, root, v);
  Matcher m(g);
  ASSERT_TRUE(m.Accept(v.ByteToken(0xC3)));
  EXPECT_FALSE(m.CanEnd());  // half a character
  EXPECT_EQ(test_util::AllowedTokens(m), std::vector<int32_t>{v.ByteToken(0xA9)});
  ASSERT_TRUE(m.Accept(v.ByteToken(0xA9)));
  EXPECT_TRUE(m.CanEnd());
  EXPECT_TRUE(m.Accept(v.Text(0)));
  EXPECT_TRUE(m.Accept(v.Text(1)));
  EXPECT_FALSE(m.CanEnd());
}

TEST(ConstrainGrammar, CopiesEvolveIndependently) {
  const TestVocab v = MakeVocab({});
  GrammarBuilder b;
  const auto root = b.AddRule("root");
  b.SetBody(root, b.Alt({b.Literal("ab"), b.Literal("ac")}));
  const auto g = Compile(b, root, v);
  Matcher m(g);
  ASSERT_TRUE(m.Accept(v.ByteToken('a')));
  Matcher copy = m;
  ASSERT_TRUE(m.Accept(v.ByteToken('b')));
  EXPECT_FALSE(copy.Allows(v.ByteToken('d')));
  ASSERT_TRUE(copy.Accept(v.ByteToken('c')));
  EXPECT_TRUE(m.MustEnd());
  EXPECT_TRUE(copy.MustEnd());
}

TEST(ConstrainGrammar, Errors) {
  {
    GrammarBuilder b;  // A := A "x" | "y"
    const auto a = b.AddRule("A");
    b.SetBody(a, b.Alt({b.Seq({b.Call(a), b.Literal("x")}), b.Literal("y")}));
    try {
      b.Build(a);
      FAIL() << "left recursion accepted";
    } catch (const CompileError& e) {
      EXPECT_NE(std::string(e.what()).find("left recursion"), std::string::npos) << e.what();
    }
  }
  {
    GrammarBuilder b;  // A := "x" A: no way to finish
    const auto a = b.AddRule("A");
    b.SetBody(a, b.Seq({b.Literal("x"), b.Call(a)}));
    EXPECT_THROW(b.Build(a), CompileError);
  }
  {
    GrammarBuilder b;  // a rule used but never defined
    const auto a = b.AddRule("A");
    const auto c = b.AddRule("C");
    b.SetBody(a, b.Call(c));
    EXPECT_THROW(b.Build(a), CompileError);
  }
  {
    GrammarBuilder b;  // counted unit that matches nothing-long
    const auto a = b.AddRule("A");
    b.SetCountedBody(a, {b.Empty(), b.Optional(b.Literal("x")), b.Empty(), b.Literal("]"),
                         b.Literal("]"), 0, 5});
    EXPECT_THROW(b.Build(a), CompileError);
  }
  {
    GrammarBuilder b;
    const auto a = b.AddRule("A");
    EXPECT_THROW(b.SetCountedBody(a, {b.Empty(), b.Literal("x"), b.Empty(), b.Literal("]"),
                                      b.Literal("]"), 3, 2}),
                 CompileError);
  }
  {
    const TestVocab v = MakeVocab({});
    GrammarBuilder b;
    const auto a = b.AddRule("A");
    b.SetBody(a, b.Token(100000));
    EXPECT_THROW(CompiledGrammar::Create(b.Build(a), v.index), CompileError);
  }
}

}  // namespace
}  // namespace gemma::constrain
