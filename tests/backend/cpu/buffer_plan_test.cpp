// BufferPlan: buffers with disjoint lifetimes share a block, overlapping ones never do, and
// merged buffers always share.
#include "bigbatch/backend/cpu/buffer_plan.h"

#include <gtest/gtest.h>

namespace bigbatch::backend::cpu {
namespace {

TEST(BufferPlanTest, SharesOnlyDisjointLifetimes) {
  BufferPlan plan;
  const int a = plan.add(1000, 0, 2);
  const int b = plan.add(500, 1, 3);
  const int c = plan.add(800, 3, 5);   // a is dead at 3
  const int d = plan.add(2000, 4, 4);  // b is dead at 4: grows b's block
  plan.allocate();
  EXPECT_NE(plan.data(a), plan.data(b));
  EXPECT_EQ(plan.data(a), plan.data(c));
  EXPECT_EQ(plan.data(b), plan.data(d));
  EXPECT_NE(plan.data(c), plan.data(d));
  EXPECT_EQ(plan.total_bytes(), 1000u + 2000u);
}

TEST(BufferPlanTest, MergedBuffersShareAndExtendLifetimes) {
  BufferPlan plan;
  const int a = plan.add(100, 0, 1);
  const int b = plan.add(300, 1, 2);
  plan.merge(a, b);
  const int c = plan.add(100, 2, 3);  // overlaps the merged lifetime 0..2
  const int d = plan.add(100, 3, 3);
  plan.extend(d, 6);
  const int e = plan.add(100, 5, 6);
  plan.allocate();
  EXPECT_EQ(plan.data(a), plan.data(b));
  EXPECT_NE(plan.data(a), plan.data(c));
  EXPECT_NE(plan.data(d), plan.data(e));
  EXPECT_TRUE(plan.same(a, b));
}

}  // namespace
}  // namespace bigbatch::backend::cpu
