// Interop with PyTorch (/usr/bin/python3 with Debian's python3-torch): files written by
// torch_interop.py load into arenas, and files we write load into a torch Module strictly.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bigbatch/io/state_dict.h"
#include "io/temp_dir.h"

namespace bigbatch::io {
namespace {

constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kScript = BIGBATCH_IO_TEST_DIR "/torch_interop.py";

bool have_torch() {
  static const bool have = std::system((std::string(kPython) + " -c 'import torch' >/dev/null 2>&1").c_str()) == 0;
  return have;
}

int run_script(const std::string& verb, const std::string& dir) {
  return std::system((std::string(kPython) + " '" + kScript + "' " + verb + " '" + dir + "'").c_str());
}

// torch_interop.py's Net: the names and shapes torchvision uses.
std::shared_ptr<ArenaLayout> net_layout() {
  auto layout = std::make_shared<ArenaLayout>();
  layout->add("conv1.weight", {4, 3, 3, 3}, TensorRole::conv_weight);
  layout->add("bn1.weight", {4}, TensorRole::bn_gamma);
  layout->add("bn1.bias", {4}, TensorRole::bn_beta);
  layout->add("bn1.running_mean", {4}, TensorRole::bn_running_mean);
  layout->add("bn1.running_var", {4}, TensorRole::bn_running_var);
  layout->add("bn1.num_batches_tracked", {}, TensorRole::bn_running_mean);
  layout->add("fc.weight", {2, 4}, TensorRole::fc_weight);
  layout->add("fc.bias", {2}, TensorRole::bias);
  return layout;
}

float pattern(int64_t k, float step, int64_t modulus, float base) { return static_cast<float>(k % modulus) * step + base; }

TEST(TorchInterop, TorchWritesWeReadBack) {
  if (!have_torch()) GTEST_SKIP() << kPython << " cannot import torch";
  TempDir dir;
  ASSERT_EQ(run_script("write", dir.path().string()), 0);

  Arena arena(net_layout());
  SafetensorsFile model = SafetensorsFile::read(dir.file("model.safetensors"));
  EXPECT_EQ(model.info("bn1.num_batches_tracked").dtype, "I64");
  EXPECT_EQ(model.metadata().at("format"), "pt");
  load_arena(model, arena, "", /*strict=*/true);
  for (int i = 0; i < arena.layout().size(); ++i) {
    const std::string& name = arena.layout().entry(i).name;
    const float* p = arena.tensor(i).data<float>();
    if (is_num_batches_tracked(name)) {
      EXPECT_EQ(p[0], 4096.0f);
      continue;
    }
    for (int64_t k = 0; k < arena.tensor(i).numel(); ++k) EXPECT_EQ(p[k], pattern(k, 0.125f, 17, -1.0f)) << name << k;
  }

  SafetensorsFile extra = SafetensorsFile::read(dir.file("extra.safetensors"));
  std::vector<float> source(6), bf16(6), f16(3);
  extra.read_f32("bf16_source", source.data(), {6});
  extra.read_f32("bf16", bf16.data(), {6});
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(bf16[i], bf16_to_f32(f32_to_bf16(source[i]))) << i;  // same rounding
  extra.read_f32("f16", f16.data(), {3});
  EXPECT_EQ(f16, (std::vector<float>{1.0f, -2.0f, 0.5f}));
  float i64 = 0;
  extra.read_f32("i64", &i64, {});
  EXPECT_EQ(i64, -9.0f);
}

TEST(TorchInterop, WeWriteTorchLoadsStrictly) {
  if (!have_torch()) GTEST_SKIP() << kPython << " cannot import torch";
  TempDir dir;
  Arena arena(net_layout());
  for (int i = 0; i < arena.layout().size(); ++i) {
    float* p = arena.tensor(i).data<float>();
    for (int64_t k = 0; k < arena.tensor(i).numel(); ++k) p[k] = pattern(k, 0.25f, 13, -1.5f);
  }
  arena.tensor("bn1.num_batches_tracked").data<float>()[0] = 321.0f;
  SafetensorsWriter model;
  add_arena(model, arena);
  model.write_atomic(dir.file("cpp.safetensors"));

  const float rounded[6] = {0.1f, 1.0f / 3.0f, -2.7f, 1e-3f, 65504.5f, 3.14159f};
  uint16_t bf16[6];
  for (int i = 0; i < 6; ++i) bf16[i] = f32_to_bf16(rounded[i]);
  const uint16_t f16[3] = {0x3c00, 0xc000, 0x3800};
  const int64_t i64 = -9;
  SafetensorsWriter extra;
  extra.add("bf16", "BF16", {2, 3}, bf16, sizeof(bf16));
  extra.add("f16", "F16", {3}, f16, sizeof(f16));
  extra.add("i64", "I64", {}, &i64, sizeof(i64));
  extra.add("empty", "F32", {0, 3}, nullptr, 0);
  extra.set_metadata("producer", "bigbatch");
  extra.write_atomic(dir.file("cpp_extra.safetensors"));

  EXPECT_EQ(run_script("read", dir.path().string()), 0);
}

}  // namespace
}  // namespace bigbatch::io
