// IntervalPlan: buffers with overlapping lives never share bytes, disjoint ones may, merged
// buffers always do; offsets are aligned and the arena is no larger than needed.
#include "bigbatch/nn/interval_plan.h"

#include <gtest/gtest.h>

#include <random>

#include "bigbatch/core/error.h"

namespace bigbatch::nn {
namespace {

bool bytes_overlap(size_t a, size_t a_bytes, size_t b, size_t b_bytes) { return a < b + b_bytes && b < a + a_bytes; }

TEST(IntervalPlanTest, SharesOnlyDisjointLifetimes) {
  IntervalPlan plan(64);
  const int a = plan.add(1024, 0, 2);
  const int b = plan.add(512, 1, 3);
  const int c = plan.add(768, 3, 5);   // a is dead at 3
  const int d = plan.add(2048, 4, 4);  // a and b are dead at 4
  EXPECT_EQ(plan.pack(), 2048u + 768u);
  EXPECT_EQ(plan.total_bytes(), 2048u + 768u);
  EXPECT_FALSE(bytes_overlap(plan.offset(a), 1024, plan.offset(b), 512));
  EXPECT_FALSE(bytes_overlap(plan.offset(b), 512, plan.offset(c), 768));
  EXPECT_FALSE(bytes_overlap(plan.offset(c), 768, plan.offset(d), 2048));
  EXPECT_TRUE(bytes_overlap(plan.offset(a), 1024, plan.offset(d), 2048));  // d reuses a's bytes
}

TEST(IntervalPlanTest, MergedBuffersShareAndTakeTheUnionOfLives) {
  IntervalPlan plan(64);
  const int a = plan.add(100, 0, 1);
  const int b = plan.add(300, 1, 2);
  plan.merge(a, b);
  const int c = plan.add(100, 2, 3);  // overlaps the merged life 0..2
  const int d = plan.add(100, 3, 3);  // does not
  plan.pack();
  EXPECT_TRUE(plan.same(a, b));
  EXPECT_EQ(plan.offset(a), plan.offset(b));
  EXPECT_FALSE(bytes_overlap(plan.offset(a), 320, plan.offset(c), 128));
  EXPECT_EQ(plan.offset(a) % 64, 0u);
  EXPECT_EQ(plan.offset(c) % 64, 0u);
  EXPECT_EQ(plan.offset(d) % 64, 0u);
}

// Random lives: no two buffers that are live at once overlap in bytes, whatever the order.
TEST(IntervalPlanTest, RandomLivesNeverCollide) {
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    IntervalPlan plan(256);
    struct Life {
      int id, first, last;
      size_t bytes;
    };
    std::vector<Life> lives;
    for (int i = 0; i < 60; ++i) {
      const int first = static_cast<int>(rng() % 40), last = first + static_cast<int>(rng() % 10);
      const size_t bytes = 1 + rng() % 5000;
      lives.push_back({plan.add(bytes, first, last), first, last, (bytes + 255) / 256 * 256});
    }
    size_t peak = 0;  // the most bytes live at one step: no plan can do better
    for (int t = 0; t < 50; ++t) {
      size_t live = 0;
      for (const Life& l : lives)
        if (l.first <= t && t <= l.last) live += l.bytes;
      peak = std::max(peak, live);
    }
    const size_t total = plan.pack();
    EXPECT_GE(total, peak);
    for (const Life& x : lives) {
      EXPECT_LE(plan.offset(x.id) + x.bytes, total);
      for (const Life& y : lives) {
        if (x.id < y.id && x.first <= y.last && y.first <= x.last) {
          ASSERT_FALSE(bytes_overlap(plan.offset(x.id), x.bytes, plan.offset(y.id), y.bytes))
              << "round " << round << ": buffers " << x.id << " and " << y.id;
        }
      }
    }
  }
}

TEST(IntervalPlanTest, RejectsMisuse) {
  EXPECT_THROW(IntervalPlan(48), InvalidArgument);
  IntervalPlan plan(64);
  EXPECT_THROW(plan.add(10, 3, 2), InvalidArgument);
  const int a = plan.add(10, 0, 1);
  EXPECT_THROW(plan.offset(a), InvalidArgument);  // before pack
  plan.pack();
  EXPECT_THROW(plan.add(10, 0, 1), InvalidArgument);
  EXPECT_THROW(plan.pack(), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::nn
