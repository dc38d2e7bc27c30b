// overlap_bench's backward profiles: a good one parses, every malformed one is one error naming
// the file and line.
#include "bigbatch/sim/profile.h"

#include <gtest/gtest.h>

#include <string>

#include "bigbatch/core/error.h"

namespace bigbatch::sim {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_backward_profile(text, "p.profile");
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(BackwardProfile, Parses) {
  const BackwardProfile p =
      parse_backward_profile("# overlap_bench profile\nresnet50 8 1 0.968278\n125 0.0045\n\n122 0.0080\n1 0.968279\n",
                             "p.profile");
  EXPECT_EQ(p.model, "resnet50");
  EXPECT_EQ(p.batch, 8);
  EXPECT_EQ(p.threads, 1);
  EXPECT_DOUBLE_EQ(p.backward_s, 0.968278);
  ASSERT_EQ(p.events.size(), 3u);
  EXPECT_EQ(p.events[0].node, 125);
  EXPECT_DOUBLE_EQ(p.events[1].t_s, 0.0080);
  EXPECT_DOUBLE_EQ(p.events[2].t_s, 0.968278);  // a rounding hair past the end is the end
}

TEST(BackwardProfile, MalformedInputIsNamedWithItsLine) {
  EXPECT_EQ(error_of(""), "[sim] p.profile: no header line 'model batch threads backward_s'");
  EXPECT_EQ(error_of("resnet50 8 1 0.5\n"), "[sim] p.profile: no gradient-ready events");
  EXPECT_NE(error_of("resnet50 8 1\n1 0.1\n").find("p.profile:1: expected the header"), std::string::npos);
  EXPECT_NE(error_of("resnet50 8 1 -2\n1 0.1\n").find("p.profile:1:"), std::string::npos);
  EXPECT_NE(error_of("resnet50 8 1 0.5\n1 abc\n").find("p.profile:2: expected 'node_id seconds', got '1 abc'"),
            std::string::npos);
  EXPECT_NE(error_of("resnet50 8 1 0.5\n1 0.1 7\n").find("p.profile:2:"), std::string::npos);
  EXPECT_NE(error_of("resnet50 8 1 0.5\n1 0.1\n1 0.2\n").find("p.profile:3: node 1 is negative or repeated"),
            std::string::npos);
  EXPECT_NE(error_of("resnet50 8 1 0.5\n-3 0.1\n").find("p.profile:2:"), std::string::npos);
  EXPECT_NE(error_of("resnet50 8 1 0.5\n1 0.7\n").find("p.profile:2: time 0.7 s is outside"), std::string::npos);
  EXPECT_NE(error_of("resnet50 8 1 0.5\n1 nan\n").find("p.profile:2:"), std::string::npos);
}

TEST(BackwardProfile, UnreadableFile) {
  try {
    read_backward_profile("/nonexistent/x.profile");
    FAIL() << "read a missing file";
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "[sim] /nonexistent/x.profile: cannot open");
  }
}

}  // namespace
}  // namespace bigbatch::sim
