// Arenas saved and loaded by state-dict name: prefixes, strictness, num_batches_tracked as I64.
#include "bigbatch/io/state_dict.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bigbatch/core/error.h"
#include "io/temp_dir.h"

namespace bigbatch::io {
namespace {

std::shared_ptr<ArenaLayout> small_layout() {
  auto layout = std::make_shared<ArenaLayout>();
  layout->add("conv1.weight", {4, 3, 3, 3}, TensorRole::conv_weight);
  layout->add("bn1.weight", {4}, TensorRole::bn_gamma);
  layout->add("bn1.running_mean", {4}, TensorRole::bn_running_mean);
  layout->add("bn1.num_batches_tracked", {}, TensorRole::bn_running_mean);
  layout->add("fc.bias", {10}, TensorRole::bias);
  return layout;
}

void fill_pattern(const Arena& arena, float base) {
  for (int i = 0; i < arena.layout().size(); ++i) {
    float* p = arena.tensor(i).data<float>();
    for (int64_t k = 0; k < arena.tensor(i).numel(); ++k) p[k] = base + static_cast<float>(i) + 0.01f * static_cast<float>(k);
  }
}

void expect_equal(const Arena& a, const Arena& b) {
  for (int i = 0; i < a.layout().size(); ++i)
    for (int64_t k = 0; k < a.tensor(i).numel(); ++k)
      EXPECT_EQ(a.tensor(i).data<float>()[k], b.tensor(i).data<float>()[k]) << a.layout().entry(i).name << "[" << k << "]";
}

// The message of the InvalidArgument that fn throws ("" when none).
template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

TEST(StateDict, RoundTripWithPrefixAndI64Count) {
  TempDir dir;
  auto layout = small_layout();
  Arena params(layout), momentum(layout);
  fill_pattern(params, 1.0f);
  fill_pattern(momentum, -5.0f);
  params.tensor("bn1.num_batches_tracked").data<float>()[0] = 4096.0f;

  SafetensorsWriter writer;
  add_arena(writer, params);
  add_arena(writer, momentum, "optimizer.momentum.");
  const std::string path = dir.file("ckpt.safetensors");
  writer.write_atomic(path);

  SafetensorsFile file = SafetensorsFile::read(path);
  EXPECT_EQ(file.info("bn1.num_batches_tracked").dtype, "I64");
  EXPECT_EQ(file.info("bn1.num_batches_tracked").shape, Shape{});
  int64_t count = 0;
  std::memcpy(&count, file.raw("bn1.num_batches_tracked").data(), 8);
  EXPECT_EQ(count, 4096);
  EXPECT_EQ(file.info("conv1.weight").dtype, "F32");
  EXPECT_EQ(file.info("optimizer.momentum.conv1.weight").shape, Shape({4, 3, 3, 3}));

  Arena params2(layout), momentum2(layout);
  load_arena(file, params2, "", /*strict=*/false);  // the momentum tensors are not under ""'s arena
  load_arena(file, momentum2, "optimizer.momentum.", /*strict=*/true);
  expect_equal(params, params2);
  expect_equal(momentum, momentum2);
  EXPECT_NE(error_of([&] { load_arena(file, params2, "", /*strict=*/true); }).find("unexpected tensor 'optimizer.momentum."),
            std::string::npos);
}

TEST(StateDict, MissingTensorIsNamed) {
  TempDir dir;
  auto small = std::make_shared<ArenaLayout>();
  small->add("conv1.weight", {4, 3, 3, 3}, TensorRole::conv_weight);
  Arena partial(small);
  SafetensorsWriter writer;
  add_arena(writer, partial);
  writer.write_atomic(dir.file("x.safetensors"));

  Arena arena(small_layout());
  const std::string message =
      error_of([&] { load_arena(SafetensorsFile::read(dir.file("x.safetensors")), arena, "", false); });
  EXPECT_NE(message.find(dir.file("x.safetensors")), std::string::npos) << message;
  EXPECT_NE(message.find("tensor 'bn1.weight' missing (expected shape [4])"), std::string::npos) << message;
}

TEST(StateDict, ShapeMismatchNamesBothShapesAndLeavesArenaUnchanged) {
  TempDir dir;
  auto other = std::make_shared<ArenaLayout>();
  other->add("conv1.weight", {4, 3, 3, 3}, TensorRole::conv_weight);
  other->add("bn1.weight", {4}, TensorRole::bn_gamma);
  other->add("bn1.running_mean", {4}, TensorRole::bn_running_mean);
  other->add("bn1.num_batches_tracked", {}, TensorRole::bn_running_mean);
  other->add("fc.bias", {1, 10}, TensorRole::bias);
  Arena source(other);
  fill_pattern(source, 3.0f);
  SafetensorsWriter writer;
  add_arena(writer, source);
  writer.write_atomic(dir.file("x.safetensors"));

  Arena arena(small_layout());
  fill_pattern(arena, 9.0f);
  Arena before(small_layout());
  before.copy_from(arena);
  const std::string message =
      error_of([&] { load_arena(SafetensorsFile::read(dir.file("x.safetensors")), arena, "", true); });
  EXPECT_NE(message.find("tensor 'fc.bias' has shape [1, 10], expected [10]"), std::string::npos) << message;
  expect_equal(arena, before);
}

TEST(StateDict, ReadsBf16AndScalarCountsOfAnyRankOne) {
  TempDir dir;
  auto layout = std::make_shared<ArenaLayout>();
  layout->add("w", {3}, TensorRole::fc_weight);
  layout->add("bn.num_batches_tracked", {1}, TensorRole::bn_running_mean);
  const uint16_t w[3] = {f32_to_bf16(0.5f), f32_to_bf16(-1.25f), f32_to_bf16(3.0f)};
  const int64_t count = 77;
  SafetensorsWriter writer;
  writer.add("w", "BF16", {3}, w, sizeof(w));
  writer.add("bn.num_batches_tracked", "I64", {}, &count, 8);
  writer.write_atomic(dir.file("x.safetensors"));

  Arena arena(layout);
  load_arena(SafetensorsFile::read(dir.file("x.safetensors")), arena, "", true);
  EXPECT_EQ(arena.tensor("w").data<float>()[1], -1.25f);
  EXPECT_EQ(arena.tensor("bn.num_batches_tracked").data<float>()[0], 77.0f);
}

TEST(StateDict, RejectsUnconvertibleDtype) {
  TempDir dir;
  auto layout = std::make_shared<ArenaLayout>();
  layout->add("w", {3}, TensorRole::fc_weight);
  const uint8_t w[3] = {1, 2, 3};
  SafetensorsWriter writer;
  writer.add("w", "U8", {3}, w, 3);
  writer.write_atomic(dir.file("x.safetensors"));
  Arena arena(layout);
  EXPECT_NE(error_of([&] { load_arena(SafetensorsFile::read(dir.file("x.safetensors")), arena, "", true); })
                .find("'w' is U8, not convertible to f32"),
            std::string::npos);
}

}  // namespace
}  // namespace bigbatch::io
