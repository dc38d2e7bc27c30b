// The trainer's promises (RECIPE §4–§8): bitwise resume, gradient accumulation equal to one
// big step, checkpoint round trip, the divergence guard, and clear errors for bad input.
#include "bigbatch/train/trainer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "bigbatch/train/checkpoint.h"
#include "testing/gradcheck.h"
#include "testing/small_train_config.h"

namespace bigbatch::train {
namespace {

namespace fs = std::filesystem;

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The pid keeps two test runs at once (two build trees) out of each other's directories.
    dir_ = fs::temp_directory_path() / ("bigbatch_trainer_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A small, fast job: resnet8 on 256 synthetic 1x28x28 examples, 4 workers of 16.
  TrainConfig small_config(const std::string& name) const {
    TrainConfig c = bigbatch::testing::small_train_config((dir_ / name).string());
    c.lr.decay_epochs = {2};
    return c;
  }

  static bool same_bits(const Arena& a, const Arena& b) {
    return a.total_elems() == b.total_elems() &&
           std::memcmp(a.data(), b.data(), static_cast<size_t>(a.total_elems()) * sizeof(float)) == 0;
  }

  fs::path dir_;
};

TEST_F(TrainerTest, ResumeIsBitwiseIdentical) {
  TrainConfig full = small_config("full");
  Trainer uninterrupted(full, "");
  TrainResult r_full = uninterrupted.run();
  EXPECT_EQ(r_full.steps, 12);

  // Stop inside the second epoch (step 6 of 12: iteration 2 of epoch 1), then resume.
  TrainConfig first = small_config("split");
  first.run.max_iters = 6;
  {
    Trainer t(first, "");
    EXPECT_EQ(t.run().steps, 6);
  }
  TrainConfig rest = small_config("split");
  rest.run.resume = rest.run.out;
  Trainer resumed(rest, "");
  TrainResult r_rest = resumed.run();
  EXPECT_EQ(r_rest.steps, 12);
  EXPECT_TRUE(same_bits(uninterrupted.params(), resumed.params()));
  EXPECT_TRUE(same_bits(uninterrupted.buffers(), resumed.buffers()));
  EXPECT_EQ(r_full.final_eval.loss, r_rest.final_eval.loss);
}

// Precise BN changes what evaluation and the checkpoint use, never training: the same weights
// bit for bit, other running statistics, another test loss, and the checkpoint holds the ones
// evaluated with (a resume from it ends where the uninterrupted run ends).
TEST_F(TrainerTest, PreciseBnChangesTheStatisticsOnly) {
  TrainConfig running = small_config("running");
  TrainConfig precise = small_config("precise");
  precise.run.precise_bn_batches = 2;
  Trainer a(running, ""), b(precise, "");
  const TrainResult ra = a.run(), rb = b.run();
  EXPECT_TRUE(same_bits(a.params(), b.params()));
  EXPECT_FALSE(same_bits(a.buffers(), b.buffers()));
  EXPECT_NE(ra.final_eval.loss, rb.final_eval.loss);

  TrainConfig first = small_config("split");
  first.run.precise_bn_batches = 2;
  first.run.max_iters = 6;
  {
    Trainer t(first, "");
    t.run();
  }
  TrainConfig rest = first;
  rest.run.max_iters = 0;
  rest.run.resume = rest.run.out;
  Trainer resumed(rest, "");
  const TrainResult rr = resumed.run();
  EXPECT_TRUE(same_bits(b.params(), resumed.params()));
  EXPECT_TRUE(same_bits(b.buffers(), resumed.buffers()));
  EXPECT_EQ(rb.final_eval.loss, rr.final_eval.loss);
}

TEST_F(TrainerTest, GradientAccumulationEqualsOneBigStep) {
  TrainConfig whole = small_config("whole");
  whole.run.max_iters = 5;
  TrainConfig micro = small_config("micro");
  micro.run.max_iters = 5;
  micro.batch.micro = 16;  // one worker at a time: 4 micro-batches per step (RECIPE §8)
  Trainer a(whole, ""), b(micro, "");
  a.run();
  b.run();
  const Arena &pa = a.params(), &pb = b.params();
  testing::expect_near_relative(pa.data(), pb.data(), pa.total_elems(), 2e-4, 2e-6);
  testing::expect_near_relative(a.buffers().data(), b.buffers().data(), a.buffers().total_elems(), 1e-4, 1e-6);
}

TEST_F(TrainerTest, WritesRunDirectoryAndCheckpointRoundTrips) {
  TrainConfig c = small_config("run");
  c.lr.epochs = 2;
  c.lr.decay_epochs = {};
  Trainer t(c, "model = \"resnet8\"\n");
  TrainResult r = t.run();
  const fs::path run = c.run.out;
  EXPECT_TRUE(fs::exists(run / "config.toml"));
  EXPECT_TRUE(fs::exists(run / "metrics.jsonl"));
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "epoch-1.safetensors"));
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "epoch-2.safetensors"));
  EXPECT_EQ(r.last_checkpoint, (run / "checkpoints" / "last.safetensors").string());

  Arena params(t.params().layout_ptr()), buffers(t.buffers().layout_ptr()), momentum(t.params().layout_ptr());
  CheckpointState state = load_checkpoint(r.last_checkpoint, params, buffers, momentum);
  EXPECT_EQ(state.model, "resnet8");
  EXPECT_EQ(state.position.epoch, 2);
  EXPECT_EQ(state.position.iter, 0);
  EXPECT_EQ(state.position.step, 8);
  EXPECT_EQ(state.seed, 7u);
  EXPECT_EQ(state.config_toml, "model = \"resnet8\"\n");
  EXPECT_TRUE(same_bits(params, t.params()));
  EXPECT_TRUE(same_bits(buffers, t.buffers()));

  // Every metrics line is one JSON object with a kind.
  std::ifstream in(run / "metrics.jsonl");
  std::string line;
  int epochs = 0;
  while (std::getline(in, line)) {
    ASSERT_EQ(line.front(), '{');
    if (line.find("\"kind\":\"epoch\"") != std::string::npos) ++epochs;
  }
  EXPECT_EQ(epochs, 2);
}

TEST_F(TrainerTest, CorruptOrForeignCheckpointGivesClearErrorAndChangesNothing) {
  TrainConfig c = small_config("run");
  c.run.max_iters = 2;
  Trainer t(c, "");
  TrainResult r = t.run();
  Arena params(t.params().layout_ptr()), buffers(t.buffers().layout_ptr()), momentum(t.params().layout_ptr());
  params.copy_from(t.params());

  // Truncated file.
  const fs::path cut = dir_ / "cut.safetensors";
  fs::copy_file(r.last_checkpoint, cut);
  fs::resize_file(cut, fs::file_size(cut) / 2);
  try {
    load_checkpoint(cut.string(), params, buffers, momentum);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(cut.string()), std::string::npos) << e.what();
  }
  EXPECT_TRUE(same_bits(params, t.params()));

  // A checkpoint of another model cannot be resumed into this one.
  TrainConfig other = small_config("run");
  other.model.name = "resnet14";
  other.run.resume = c.run.out;
  EXPECT_THROW(Trainer(other, ""), InvalidArgument);
}

TEST_F(TrainerTest, DivergenceStopsWithClearErrorAndKeepsLastGoodCheckpoint) {
  TrainConfig c = small_config("diverge");
  c.lr.epochs = 3;
  c.lr.warmup_epochs = 0;
  c.lr.decay_epochs = {};
  c.run.max_iters = 4;  // one epoch: a good checkpoint
  {
    Trainer t(c, "");
    t.run();
  }
  const fs::path last = fs::path(c.run.out) / "checkpoints" / "last.safetensors";
  const auto before = fs::last_write_time(last);
  const auto size = fs::file_size(last);
  TrainConfig wild = c;
  wild.run.resume = c.run.out;
  wild.run.max_iters = 0;
  wild.lr.base_lr = 1e35;  // weights overflow f32 within a step or two: the loss turns NaN
  Trainer t(wild, "");
  try {
    t.run();
    FAIL() << "expected the divergence guard to stop the run";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("diverged"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(last.string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(fs::last_write_time(last), before);
  EXPECT_EQ(fs::file_size(last), size);
}

// A finite loss 100x a uniform guess's ln(C) is an explosion too; with no checkpoint written
// the message must not name one.
TEST_F(TrainerTest, FiniteLossExplosionStopsTheRunAndNamesNoMissingCheckpoint) {
  TrainConfig c = small_config("explode");
  c.run.max_iters = 1;
  {
    Trainer t(c, "");
    t.run();
    // Weights whose logits are ~1e8 apart: the cross-entropy is huge but finite.
    Arena params(t.params().layout_ptr());
    params.copy_from(t.params());
    float* fc = params.tensor(params.layout().find("fc.weight")).data<float>();
    for (int64_t i = 0; i < params.tensor(params.layout().find("fc.weight")).numel(); ++i) fc[i] *= 1e8f;
    CheckpointState state;
    state.model = "resnet8";
    save_checkpoint((dir_ / "huge.safetensors").string(), params, t.buffers(), nullptr, state);
  }
  TrainConfig huge = small_config("explode2");
  huge.run.init = (dir_ / "huge.safetensors").string();
  Trainer t(huge, "");
  try {
    t.run();
    FAIL() << "expected the explosion rule to stop the run";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("diverged"), std::string::npos) << message;
    EXPECT_NE(message.find("x ln(classes)"), std::string::npos) << message;
    EXPECT_NE(message.find("no checkpoint was written"), std::string::npos) << message;
    EXPECT_EQ(message.find("last.safetensors"), std::string::npos) << message;
  }
}

// Resuming at another kn or n changes the run: an error unless asked for, and then only at an
// epoch boundary, continuing at the new batch's step for that epoch.
TEST_F(TrainerTest, BatchChangeOnResumeNeedsToBeAskedForAtAnEpochBoundary) {
  TrainConfig c = small_config("batch");
  c.run.max_iters = 4;  // one epoch of 4 steps at kn 64
  {
    Trainer t(c, "");
    t.run();
  }
  TrainConfig wider = c;
  wider.run.resume = c.run.out;
  wider.run.max_iters = 0;
  wider.batch.global = 128;  // 8 workers of 16: 2 steps per epoch
  try {
    Trainer t(wider, "");
    FAIL() << "expected the batch change to be refused";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("--allow-batch-change on"), std::string::npos) << e.what();
  }
  wider.run.allow_batch_change = true;
  Trainer t(wider, "");
  TrainResult r = t.run();
  Arena params(t.params().layout_ptr()), buffers(t.buffers().layout_ptr()), momentum(t.params().layout_ptr());
  const CheckpointState state = load_checkpoint(r.last_checkpoint, params, buffers, momentum);
  EXPECT_EQ(state.global_batch, 128);
  EXPECT_EQ(state.position.epoch, 3);
  EXPECT_EQ(state.position.step, 6);  // 3 epochs of 2 steps

  // Inside an epoch the batch cannot change.
  TrainConfig mid = small_config("batch_mid");
  mid.run.max_iters = 2;
  {
    Trainer t2(mid, "");
    t2.run();
  }
  mid.run.resume = mid.run.out;
  mid.run.max_iters = 0;
  mid.batch.global = 128;
  mid.run.allow_batch_change = true;
  try {
    Trainer t2(mid, "");
    FAIL() << "expected a batch change inside an epoch to be refused";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("epoch boundary"), std::string::npos) << e.what();
  }
}

TEST_F(TrainerTest, BadConfigurationsAreRejected) {
  TrainConfig c = small_config("bad");
  c.batch.global = 100;  // not k whole workers of 16
  EXPECT_THROW(validate(c), InvalidArgument);
  c = small_config("bad");
  c.batch.micro = 24;  // not whole workers
  EXPECT_THROW(validate(c), InvalidArgument);
  c = small_config("bad");
  c.model.name = "resnet9000";
  EXPECT_THROW(Trainer(c, ""), InvalidArgument);
  c = small_config("bad");
  c.input.data.name = "imagenet-from-the-cloud";
  EXPECT_THROW(Trainer(c, ""), InvalidArgument);
  c = small_config("bad");
  c.batch.global = 512;  // larger than the 256 examples: no full batch
  c.batch.per_worker = 32;
  EXPECT_THROW(Trainer(c, ""), InvalidArgument);
}

// comm ps runs on either device; only the servers' update of loss-scaled f16 gradients is refused.
TEST_F(TrainerTest, ParameterServersTakeEitherDeviceButNotF16OnTheServers) {
  TrainConfig c = small_config("ps");
  c.ps.enabled = true;
  c.run.device = Device::cuda;
  c.run.precision = DType::bf16;
  EXPECT_NO_THROW(validate(c));
  c.run.precision = DType::f16;
  try {
    validate(c);
    ADD_FAILURE() << "f16 with the update on the servers was accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("--ps-update worker"), std::string::npos) << e.what();
  }
  c.ps.update_on_servers = false;  // the workers unscale, as the allreduce does
  EXPECT_NO_THROW(validate(c));
}

}  // namespace
}  // namespace bigbatch::train
