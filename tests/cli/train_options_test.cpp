// Configuration keys and flags of `bigbatch train`: one table, a TOML file under flags, and
// one clear error for each kind of bad input.
#include "bigbatch/cli/train_options.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace bigbatch::cli {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TrainOptions, TomlRoundTripsEveryKey) {
  train::TrainConfig c;
  c.model = "resnet56";
  c.global_batch = 8192;
  c.per_worker_batch = 32;
  c.micro_batch = 1024;
  c.lr = 0.2;
  c.scaling = optim::LrScaling::sqrt;
  c.warmup = optim::LrWarmup::constant;
  c.decay = optim::LrSchedule::cosine;
  c.decay_epochs = {10, 20};
  c.momentum_form = train::MomentumForm::v;
  c.nesterov = true;
  c.wd_on_bn = true;
  c.zero_gamma = false;
  c.augment = data::AugmentKind::none;
  c.precision = DType::bf16;
  c.out = "runs/\"quoted\"";
  const std::string text = to_toml(c);
  const train::TrainConfig back = apply_toml(train::TrainConfig{}, text, "roundtrip.toml");
  EXPECT_EQ(to_toml(back), text);
  EXPECT_EQ(back.decay_epochs, (std::vector<int64_t>{10, 20}));
  EXPECT_EQ(back.out, c.out);
  EXPECT_EQ(back.lr, 0.2);
}

TEST(TrainOptions, FlagsOverrideTheFile) {
  const auto path = std::filesystem::temp_directory_path() / "bigbatch_train_options.toml";
  std::ofstream(path) << "model = \"resnet32\"\nglobal_batch = 2048\nwarmup_epochs = 2\n";
  TrainFlags flags;
  flags.config_path = path.string();
  flags.values["global_batch"] = "4096";
  train::TrainConfig c = resolve_train_config(flags);
  EXPECT_EQ(c.model, "resnet32");
  EXPECT_EQ(c.global_batch, 4096);
  EXPECT_EQ(c.warmup_epochs, 2);
  std::filesystem::remove(path);
}

TEST(TrainOptions, UnknownKeyNamesFileAndKey) {
  std::string e = error_of([] { apply_toml({}, "global_bach = 1024\n", "my.toml"); });
  EXPECT_NE(e.find("my.toml"), std::string::npos) << e;
  EXPECT_NE(e.find("global_bach"), std::string::npos) << e;
}

TEST(TrainOptions, WrongTypeOrValueIsNamed) {
  EXPECT_NE(error_of([] { apply_toml({}, "epochs = \"many\"\n", "a.toml"); }).find("epochs"), std::string::npos);
  EXPECT_NE(error_of([] { apply_toml({}, "scaling = \"cubic\"\n", "a.toml"); }).find("cubic"), std::string::npos);
  EXPECT_NE(error_of([] { apply_toml({}, "nesterov = \"maybe\"\n", "a.toml"); }).find("nesterov"),
            std::string::npos);
  EXPECT_NE(error_of([] { apply_toml({}, "decay_epochs = [1.5]\n", "a.toml"); }).find("decay_epochs"),
            std::string::npos);
  TrainFlags flags;
  flags.values["lr"] = "fast";
  EXPECT_NE(error_of([&] { resolve_train_config(flags); }).find("--lr"), std::string::npos);
}

TEST(TrainOptions, MaxImagePixelsDefaultsToPilsLimit) {
  EXPECT_EQ(train::TrainConfig{}.max_image_pixels, 89478485);  // PIL's Image.MAX_IMAGE_PIXELS
  TrainFlags flags;
  flags.values["max_image_pixels"] = "1000";
  EXPECT_EQ(resolve_train_config(flags).max_image_pixels, 1000);
  EXPECT_EQ(apply_toml({}, "max_image_pixels = 5000\n", "a.toml").max_image_pixels, 5000);
  flags.values["max_image_pixels"] = "0";
  const std::string e = error_of([&] { resolve_train_config(flags); });
  EXPECT_NE(e.find("[config] max-image-pixels: expected > 0, got 0"), std::string::npos) << e;
}

TEST(TrainOptions, MalformedTomlGivesLine) {
  std::string e = error_of([] { apply_toml({}, "model = \"resnet20\"\nepochs = = 3\n", "bad.toml"); });
  EXPECT_NE(e.find("bad.toml:2"), std::string::npos) << e;
}

TEST(TrainOptions, GlobalBatchMustBeWholeWorkers) {
  TrainFlags flags;
  flags.values["global_batch"] = "1000";
  flags.values["per_worker_batch"] = "32";
  std::string e = error_of([&] { resolve_train_config(flags); });
  EXPECT_NE(e.find("not divisible"), std::string::npos) << e;
}

TEST(TrainOptions, ShippedExperimentConfigsParse) {
  for (const auto& entry : std::filesystem::directory_iterator(BIGBATCH_EXPERIMENTS_DIR)) {
    if (entry.path().extension() != ".toml") continue;
    TrainFlags flags;
    flags.config_path = entry.path().string();
    EXPECT_NO_THROW(resolve_train_config(flags)) << entry.path();
  }
}

}  // namespace
}  // namespace bigbatch::cli
