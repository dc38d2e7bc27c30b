// Loading weights is all or an error naming what does not fit (issue 16: no silent partial
// loads), unless a partial load is asked for, which says what it left; the recorded model is
// checked before any tensor; a failed load changes nothing.
#include "bigbatch/train/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bigbatch/core/error.h"
#include "bigbatch/io/safetensors.h"
#include "bigbatch/io/state_dict.h"
#include "bigbatch/models/registry.h"
#include "bigbatch/train/evaluator.h"
#include "io/temp_dir.h"

namespace bigbatch::train {
namespace {

struct ModelArenas {
  explicit ModelArenas(const std::string& name)
      : graph(models::build_model({name, 1, 28, 28, 10})),
        params(graph.parameter_layout()),
        buffers(graph.buffer_layout()),
        momentum(graph.parameter_layout()) {
    fill(params, 1.0f);
    fill(buffers, 2.0f);
    momentum.zero();
  }
  static void fill(const Arena& arena, float base) {
    float* p = arena.data();
    for (int64_t i = 0; i < arena.total_elems(); ++i) p[i] = base + 1e-3f * static_cast<float>(i % 1000);
  }
  nn::Graph graph;
  Arena params, buffers, momentum;
};

// Tensor by tensor: the arena's alignment padding is no tensor's.
bool same_bits(const Arena& a, const Arena& b) {
  if (a.layout().size() != b.layout().size()) return false;
  for (int i = 0; i < a.layout().size(); ++i)
    if (a.tensor(i).nbytes() != b.tensor(i).nbytes() ||
        std::memcmp(a.tensor(i).raw(), b.tensor(i).raw(), a.tensor(i).nbytes()) != 0)
      return false;
  return true;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

// The model's weights as a state dict, less the tensors named in `drop`, plus `extra`.
std::string write_state_dict(const io::TempDir& dir, const ModelArenas& m, const std::vector<std::string>& drop,
                             const std::vector<std::string>& extra) {
  io::SafetensorsWriter writer;
  for (const Arena* arena : {&m.params, &m.buffers}) {
    for (int i = 0; i < arena->layout().size(); ++i) {
      const ArenaEntry& entry = arena->layout().entry(i);
      if (std::find(drop.begin(), drop.end(), entry.name) != drop.end()) continue;
      writer.add(entry.name, "F32", entry.shape, arena->tensor(i).raw(), arena->tensor(i).nbytes());
    }
  }
  const float two[2] = {3.0f, 4.0f};
  for (const std::string& name : extra) writer.add(name, "F32", Shape{2}, two, sizeof two);
  const std::string path = dir.file("weights.safetensors");
  writer.write_atomic(path);
  return path;
}

TEST(LoadWeights, WholeModelLoads) {
  io::TempDir dir;
  ModelArenas saved("resnet8"), loaded("resnet8");
  ModelArenas::fill(loaded.params, 5.0f);
  const std::string path = write_state_dict(dir, saved, {}, {});
  const PartialLoad left = load_weights(path, "resnet8", loaded.params, loaded.buffers);
  EXPECT_TRUE(left.skipped.empty() && left.missing.empty());
  EXPECT_TRUE(same_bits(saved.params, loaded.params));
  EXPECT_TRUE(same_bits(saved.buffers, loaded.buffers));
}

TEST(LoadWeights, ExtraTensorsAreAnErrorNamingThemAndChangeNothing) {
  io::TempDir dir;
  ModelArenas saved("resnet8"), loaded("resnet8");
  ModelArenas::fill(loaded.params, 5.0f);
  ModelArenas before("resnet8");
  before.params.copy_from(loaded.params);
  const std::string path = write_state_dict(dir, saved, {}, {"layer9.0.conv1.weight", "head.bias"});
  const std::string message = error_of([&] { load_weights(path, "resnet8", loaded.params, loaded.buffers); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("2 tensor(s) that a resnet8 does not have"), std::string::npos) << message;
  EXPECT_NE(message.find("layer9.0.conv1.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("head.bias"), std::string::npos) << message;
  EXPECT_NE(message.find("--init-partial on"), std::string::npos) << message;
  EXPECT_TRUE(same_bits(before.params, loaded.params));
}

TEST(LoadWeights, MissingTensorsAreAnErrorNamingThem) {
  io::TempDir dir;
  ModelArenas saved("resnet8"), loaded("resnet8");
  const std::string path = write_state_dict(dir, saved, {"fc.bias", "conv1.weight"}, {});
  const std::string message = error_of([&] { load_weights(path, "resnet8", loaded.params, loaded.buffers); });
  EXPECT_NE(message.find("2 tensor(s) of a resnet8 missing"), std::string::npos) << message;
  EXPECT_NE(message.find("fc.bias missing"), std::string::npos) << message;
  EXPECT_NE(message.find("conv1.weight missing"), std::string::npos) << message;
}

TEST(LoadWeights, ParametersAloneKeepTheBuffers) {
  io::TempDir dir;
  ModelArenas saved("resnet8"), loaded("resnet8");
  std::vector<std::string> buffers;
  for (const ArenaEntry& entry : saved.buffers.layout().entries()) buffers.push_back(entry.name);
  ModelArenas::fill(loaded.buffers, 7.0f);
  ModelArenas kept("resnet8");
  kept.buffers.copy_from(loaded.buffers);
  load_weights(write_state_dict(dir, saved, buffers, {}), "resnet8", loaded.params, loaded.buffers);
  EXPECT_TRUE(same_bits(saved.params, loaded.params));
  EXPECT_TRUE(same_bits(kept.buffers, loaded.buffers));
}

TEST(LoadWeights, PartialLoadListsWhatItLeft) {
  io::TempDir dir;
  ModelArenas saved("resnet8"), loaded("resnet8");
  ModelArenas::fill(loaded.params, 5.0f);
  ModelArenas before("resnet8");
  before.params.copy_from(loaded.params);
  const std::string path = write_state_dict(dir, saved, {"fc.bias"}, {"head.bias"});
  const PartialLoad left = load_weights(path, "resnet8", loaded.params, loaded.buffers, /*partial=*/true);
  EXPECT_EQ(left.skipped, std::vector<std::string>{"head.bias"});
  EXPECT_EQ(left.missing, std::vector<std::string>{"fc.bias"});
  // Everything but fc.bias came from the file; fc.bias kept its value.
  for (int i = 0; i < loaded.params.layout().size(); ++i) {
    const bool is_fc_bias = loaded.params.layout().entry(i).name == "fc.bias";
    const Tensor& want = (is_fc_bias ? before.params : saved.params).tensor(i);
    EXPECT_EQ(std::memcmp(loaded.params.tensor(i).raw(), want.raw(), want.nbytes()), 0)
        << loaded.params.layout().entry(i).name;
  }
}

TEST(LoadWeights, AnotherModelsCheckpointIsRefusedBeforeItsTensors) {
  io::TempDir dir;
  ModelArenas resnet20("resnet20"), resnet8("resnet8");
  CheckpointState state;
  state.model = "resnet20";
  const std::string path = dir.file("resnet20.safetensors");
  save_checkpoint(path, resnet20.params, resnet20.buffers, &resnet20.momentum, state);
  std::string message = error_of([&] { load_weights(path, "resnet8", resnet8.params, resnet8.buffers); });
  EXPECT_NE(message.find("holds a resnet20, not a resnet8"), std::string::npos) << message;
  message = error_of([&] { load_checkpoint(path, resnet8.params, resnet8.buffers, resnet8.momentum, "resnet8"); });
  EXPECT_NE(message.find("holds a resnet20"), std::string::npos) << message;
  // The other model's tensors are what a partial load skips (resnet20 has layer1.1, layer1.2, ...).
  const PartialLoad left = load_weights(path, "resnet8", resnet8.params, resnet8.buffers, true);
  EXPECT_FALSE(left.skipped.empty());
  EXPECT_TRUE(left.missing.empty());
}

TEST(LoadCheckpoint, RecordsTheBatch) {
  io::TempDir dir;
  ModelArenas m("resnet8");
  CheckpointState state;
  state.model = "resnet8";
  state.global_batch = 512;
  state.per_worker_batch = 32;
  const std::string path = dir.file("ckpt.safetensors");
  save_checkpoint(path, m.params, m.buffers, &m.momentum, state);
  const CheckpointState back = load_checkpoint(path, m.params, m.buffers, m.momentum, "resnet8");
  EXPECT_EQ(back.global_batch, 512);
  EXPECT_EQ(back.per_worker_batch, 32);
}

// A NaN weight must not read as a perfect score (NaN logits rank as nothing).
TEST(EvaluateCheckpoint, NonFiniteOutputsAreAnError) {
  io::TempDir dir;
  ModelArenas m("resnet8");
  const int fc = m.params.layout().find("fc.weight");
  ASSERT_GE(fc, 0);
  m.params.tensor(fc).data<float>()[0] = std::nanf("");
  CheckpointState state;
  state.model = "resnet8";
  const std::string path = dir.file("nan.safetensors");
  save_checkpoint(path, m.params, m.buffers, nullptr, state);
  CheckpointEval job;
  job.checkpoint = path;
  job.dataset = "synthetic";
  job.batch = 64;
  std::string model;
  const std::string message = error_of([&] { evaluate_checkpoint(job, model); });
  EXPECT_NE(message.find("not finite"), std::string::npos) << message;
}

}  // namespace
}  // namespace bigbatch::train
