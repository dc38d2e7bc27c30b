// printable: control and non-ASCII bytes become \xNN; printable ASCII passes unchanged.
#include "bigbatch/core/printable.h"

#include <gtest/gtest.h>

namespace bigbatch {
namespace {

TEST(Printable, EscapesEveryByteATerminalCouldActOn) {
  EXPECT_EQ(printable("plain {\"kind\": 1} \\ ~"), "plain {\"kind\": 1} \\ ~");
  EXPECT_EQ(printable("\x1b[2J\x1b]0;owned\x07"), "\\x1b[2J\\x1b]0;owned\\x07");
  EXPECT_EQ(printable(std::string("a\0b\r\n\t\x7f", 7)), "a\\x00b\\x0d\\x0a\\x09\\x7f");
  EXPECT_EQ(printable("\xc2\x9b" "31m"), "\\xc2\\x9b31m");  // C1 CSI, UTF-8 encoded
  EXPECT_EQ(printable(""), "");
}

}  // namespace
}  // namespace bigbatch
