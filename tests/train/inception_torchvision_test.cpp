// bigbatch's Inception-v3 against torchvision's (inception_torchvision.py writes the oracle with
// Debian's /usr/bin/python3; skipped without torch): torchvision's weights load, give the same
// eval-mode logits and train-mode loss (dropout off, auxiliary head on, weight 0.4), the same
// running statistics after one SGD step, whose update is as close to float64's as PyTorch
// float32's (judged by the script), and bigbatch's weights load back into torchvision with
// strict=True.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "bigbatch/io/safetensors.h"
#include "bigbatch/models/registry.h"
#include "bigbatch/nn/device_arena.h"
#include "bigbatch/nn/executor.h"
#include "bigbatch/train/checkpoint.h"
#include "bigbatch/train/train_step.h"
#include "io/temp_dir.h"

namespace bigbatch::train {
namespace {

constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kScript = BIGBATCH_TRAIN_TEST_DIR "/inception_torchvision.py";
constexpr int64_t kBatch = 4;  // inception_torchvision.py BATCH

bool have_torchvision() {
  static const bool have =
      std::system((std::string(kPython) + " -c 'import torch, torchvision' >/dev/null 2>&1").c_str()) == 0;
  return have;
}

int run_script(const std::string& verb, const std::string& dir) {
  return std::system((std::string(kPython) + " '" + kScript + "' " + verb + " '" + dir + "'").c_str());
}

std::vector<float> read(const io::SafetensorsFile& file, const std::string& name, const Shape& shape) {
  std::vector<float> v(static_cast<size_t>(shape.numel()));
  file.read_f32(name, v.data(), shape);
  return v;
}

// ‖a − b‖ / ‖b‖ in double.
double relative_l2(const float* a, const float* b, size_t count) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < count; ++i) {
    diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    norm += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(diff / norm);
}

TEST(InceptionV3Torchvision, LogitsLossStepAndStrictLoadMatch) {
  if (!have_torchvision()) GTEST_SKIP() << kPython << " cannot import torch and torchvision";
  bigbatch::io::TempDir dir;
  ASSERT_EQ(run_script("write", dir.path().string()), 0);
  const nn::Graph graph = models::build_model({"inception_v3", 3, 299, 299, 1000, /*dropout=*/0.0});
  Arena params(graph.parameter_layout()), buffers(graph.buffer_layout());
  load_weights(dir.file("weights.safetensors"), "inception_v3", params, buffers);
  const io::SafetensorsFile oracle = io::SafetensorsFile::read(dir.file("case.safetensors"));
  Tensor images = Tensor::zeros({kBatch, 3, 299, 299});
  oracle.read_f32("input", images.data<float>(), images.shape());
  std::vector<int32_t> labels;
  for (float label : read(oracle, "labels", Shape{kBatch})) labels.push_back(static_cast<int32_t>(label));

  {
    SCOPED_TRACE("eval-mode logits (the main head)");
    auto executor = nn::make_cpu_executor({&graph, &params, nullptr, &buffers}, {kBatch, 0, DType::f32});
    executor->forward(images, /*training=*/false);
    std::vector<float> logits(static_cast<size_t>(kBatch * 1000));
    nn::gather_head(graph.heads()[0], graph.output_columns(), kBatch, executor->logits().data<float>(), logits.data());
    const std::vector<float> expected = read(oracle, "eval_logits", Shape{kBatch, 1000});
    const double distance = relative_l2(logits.data(), expected.data(), logits.size());
    std::printf("eval logits: relative L2 distance %.3g to torchvision's\n", distance);
    EXPECT_LT(distance, 1e-4);
  }

  StepPlan plan;
  plan.graph = &graph;
  plan.global_batch = plan.local_batch = plan.bn_group = kBatch;
  plan.aux_loss_weight = 0.4;
  plan.sgd.momentum = 0.9;
  plan.sgd.weight_decay = 1e-4;
  TrainStep step(plan);
  nn::copy_arena(step.params(), params);
  nn::copy_arena(step.buffers(), buffers);
  int64_t correct = 0;
  const double loss = step.run(images, labels.data(), 0.1, 0, correct);
  const double expected_loss = read(oracle, "loss", Shape{1})[0];
  std::printf("train loss: bigbatch %.7f, torchvision %.7f\n", loss, expected_loss);
  EXPECT_NEAR(loss, expected_loss, 1e-4 * std::abs(expected_loss));

  // The running statistics after the step (forward only: the engines agree closely); the
  // weights are judged by inception_torchvision.py against float64, as PyTorch float32 is.
  for (int i = 0; i < step.buffers().layout().size(); ++i) {
    const ArenaEntry& e = step.buffers().layout().entry(i);
    const std::vector<float> theirs = read(oracle, "after." + e.name, e.shape);
    const float* ours = step.buffers().tensor(i).data<float>();
    if (e.name.ends_with("num_batches_tracked")) {
      EXPECT_EQ(ours[0], theirs[0]) << e.name;
    } else {
      EXPECT_LT(relative_l2(ours, theirs.data(), theirs.size()), 1e-4) << e.name;
    }
  }

  Arena saved_params(graph.parameter_layout()), saved_buffers(graph.buffer_layout());
  nn::copy_arena(saved_params, step.params());
  nn::copy_arena(saved_buffers, step.buffers());
  CheckpointState state;
  state.model = "inception_v3";
  save_checkpoint(dir.file("bigbatch.safetensors"), saved_params, saved_buffers, nullptr, state);
  EXPECT_EQ(run_script("read", dir.path().string()), 0);
}

}  // namespace
}  // namespace bigbatch::train
