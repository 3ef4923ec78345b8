// Stop strings across piece boundaries and UTF-8 characters.
#include <gtest/gtest.h>

#include "server/protocol/stop_strings.h"

namespace gemma::protocol {
namespace {

TEST(ProtocolStopTest, CutsAtTheStopAcrossPieces) {
  StopStringMatcher m({"END"});
  EXPECT_EQ(m.Push("abc E"), "abc ");
  EXPECT_EQ(m.Push("N"), "");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.Push("Dxyz"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.matched(), "END");
  EXPECT_EQ(m.Push("more"), "");
  EXPECT_EQ(m.Finish(), "");
}

TEST(ProtocolStopTest, AFalseStartIsReleased) {
  StopStringMatcher m({"END"});
  EXPECT_EQ(m.Push("E"), "");
  EXPECT_EQ(m.Push("x"), "Ex");
  EXPECT_EQ(m.Push("EN"), "");
  EXPECT_EQ(m.Finish(), "EN");
  EXPECT_FALSE(m.stopped());
}

TEST(ProtocolStopTest, OverlappingBeginningsAndTheEarliestStop) {
  StopStringMatcher m({"aab"});
  EXPECT_EQ(m.Push("aa"), "");
  EXPECT_EQ(m.Push("a"), "a");
  EXPECT_EQ(m.Push("b!"), "");
  EXPECT_TRUE(m.stopped());

  StopStringMatcher two({"c", "b c"});
  EXPECT_EQ(two.Push("a b c d"), "a ");
  EXPECT_EQ(two.matched(), "b c");

  StopStringMatcher in_one_piece({"\n\n"});
  EXPECT_EQ(in_one_piece.Push("line\n\nnext"), "line");
}

TEST(ProtocolStopTest, Utf8CharactersAreNeverSplit) {
  StopStringMatcher none({});
  EXPECT_EQ(none.Push("\xE2\x82"), "");  // first two bytes of the euro sign
  EXPECT_EQ(none.Push("\xAC!"), "\xE2\x82\xAC!");
  EXPECT_EQ(none.Push("x\xF0\x9F"), "x");
  EXPECT_EQ(none.Finish(), "\xF0\x9F");  // released as is at the end

  StopStringMatcher accent({"\xC3\xA9!"});  // "é!"
  EXPECT_EQ(accent.Push("caf\xC3"), "caf");
  EXPECT_EQ(accent.Push("\xA9!"), "");
  EXPECT_TRUE(accent.stopped());
}

TEST(ProtocolStopTest, EmptyStopsAreIgnored) {
  StopStringMatcher m({"", ""});
  EXPECT_EQ(m.Push("text"), "text");
  EXPECT_FALSE(m.stopped());
}

TEST(ProtocolStopTest, IncompleteUtf8Tail) {
  EXPECT_EQ(IncompleteUtf8Tail("abc"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xC3"), 1u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xC3\xA9"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("\xE2\x82"), 2u);
  EXPECT_EQ(IncompleteUtf8Tail("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(IncompleteUtf8Tail("\xF0\x9F\x98\x80"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("\x80\x80"), 0u);  // stray continuation bytes: not held
}

}  // namespace
}  // namespace gemma::protocol
