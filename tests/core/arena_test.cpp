#include "bigbatch/core/arena.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace bigbatch {
namespace {

TEST(Arena, ViewsAreAlignedDisjointAndNamed) {
  auto layout = std::make_shared<ArenaLayout>();
  layout->add("conv1.weight", {16, 1, 3, 3}, TensorRole::conv_weight);
  layout->add("bn1.weight", {16}, TensorRole::bn_gamma);
  layout->add("fc.bias", {10}, TensorRole::bias);
  EXPECT_EQ(layout->count(), 144 + 16 + 10);
  EXPECT_EQ(layout->total_elems(), 144 + 16 + 16);
  EXPECT_THROW(layout->add("fc.bias", {10}, TensorRole::bias), InvalidArgument);

  Arena arena(layout);
  for (int i = 0; i < layout->size(); ++i) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(arena.tensor(i).raw()) % 64, 0u);
    arena.tensor(i).fill(static_cast<float>(i + 1));
  }
  EXPECT_EQ(arena.tensor("bn1.weight").data<float>()[15], 2.0f);
  EXPECT_EQ(arena.tensor("conv1.weight").data<float>()[143], 1.0f);
  EXPECT_EQ(arena.data()[144], 2.0f);
  EXPECT_THROW(arena.tensor("nope"), InvalidArgument);

  Arena copy(layout);
  copy.copy_from(arena);
  EXPECT_EQ(copy.tensor("fc.bias").data<float>()[9], 3.0f);
  copy.zero();
  EXPECT_EQ(copy.tensor("fc.bias").data<float>()[9], 0.0f);
}

}  // namespace
}  // namespace bigbatch
