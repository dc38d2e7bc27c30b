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
  c.model.name = "resnet56";
  c.batch.global = 8192;
  c.batch.per_worker = 32;
  c.batch.micro = 1024;
  c.lr.base_lr = 0.2;
  c.lr.scaling = optim::LrScaling::sqrt;
  c.lr.warmup = optim::LrWarmup::constant;
  c.lr.schedule = optim::LrSchedule::cosine;
  c.lr.decay_epochs = {10, 20};
  c.optimizer.v_form = true;
  c.reducer.bucket_cap_bytes = int64_t{50} << 20;
  c.optimizer.nesterov = true;
  c.optimizer.decay_bn_and_bias = true;
  c.model.init.zero_gamma = false;
  c.input.augment = data::AugmentKind::none;
  c.run.precision = DType::bf16;
  c.run.out = "runs/\"quoted\"";
  const std::string text = to_toml(c);
  const train::TrainConfig back = apply_toml(train::TrainConfig{}, text, "roundtrip.toml");
  EXPECT_EQ(to_toml(back), text);
  EXPECT_EQ(back.lr.decay_epochs, (std::vector<int64_t>{10, 20}));
  EXPECT_EQ(back.run.out, c.run.out);
  EXPECT_EQ(back.lr.base_lr, 0.2);
  EXPECT_TRUE(back.optimizer.v_form);
  EXPECT_EQ(back.reducer.bucket_cap_bytes, int64_t{50} << 20);
}

TEST(TrainOptions, BucketMibIsBoundedAndHeldInBytes) {
  EXPECT_EQ(apply_toml({}, "bucket_mib = 4096\n", "a.toml").reducer.bucket_cap_bytes, int64_t{4096} << 20);
  for (const char* bad : {"bucket_mib = 0\n", "bucket_mib = -3\n", "bucket_mib = 9223372036854775807\n"}) {
    const std::string e = error_of([&] { apply_toml({}, bad, "a.toml"); });
    EXPECT_NE(e.find("bucket_mib: expected a size in MiB in [1, 1048576]"), std::string::npos) << e;
  }
}

TEST(TrainOptions, MomentumFormIsUOrV) {
  EXPECT_TRUE(apply_toml({}, "momentum_form = \"v\"\n", "a.toml").optimizer.v_form);
  EXPECT_FALSE(apply_toml({}, "momentum_form = \"u\"\n", "a.toml").optimizer.v_form);
  TrainFlags flags;
  flags.values["momentum_form"] = "w";
  const std::string e = error_of([&] { resolve_train_config(flags); });
  EXPECT_NE(e.find("[config] --momentum-form: expected u or v, got 'w'"), std::string::npos) << e;
}

// Found by fuzz/toml_config_fuzz.cpp (fuzz/regressions/toml_config/): a control character in a
// string, or an integer outside its field's range, made a config.toml that did not read back.
TEST(TrainOptions, TomlRoundTripsControlCharacters) {
  train::TrainConfig c;
  c.run.out = "runs/a\nb\tc\x01\x7f";
  const std::string text = to_toml(c);
  EXPECT_NE(text.find("out = \"runs/a\\u000ab\\u0009c\\u0001\\u007f\""), std::string::npos) << text;
  EXPECT_EQ(apply_toml(train::TrainConfig{}, text, "roundtrip.toml").run.out, c.run.out);
}

TEST(TrainOptions, IntegerOutsideItsFieldIsNamed) {
  std::string e = error_of([] { apply_toml({}, "seed = -1\n", "a.toml"); });
  EXPECT_NE(e.find("[config] a.toml: seed: expected an integer from 0 to 18446744073709551615, got '-1'"),
            std::string::npos)
      << e;
  e = error_of([] { apply_toml({}, "threads = 4294967297\n", "a.toml"); });
  EXPECT_NE(e.find("threads: expected an integer from -2147483648 to 2147483647"), std::string::npos) << e;
}

TEST(TrainOptions, FlagsOverrideTheFile) {
  const auto path = std::filesystem::temp_directory_path() / "bigbatch_train_options.toml";
  std::ofstream(path) << "model = \"resnet32\"\nglobal_batch = 2048\nwarmup_epochs = 2\n";
  TrainFlags flags;
  flags.config_path = path.string();
  flags.values["global_batch"] = "4096";
  train::TrainConfig c = resolve_train_config(flags);
  EXPECT_EQ(c.model.name, "resnet32");
  EXPECT_EQ(c.batch.global, 4096);
  EXPECT_EQ(c.lr.warmup_epochs, 2);
  std::filesystem::remove(path);
}

TEST(TrainOptions, ImageSizeFollowsInceptionUnlessSet) {
  TrainFlags flags;
  flags.values["model"] = "inception_v3";
  EXPECT_EQ(resolve_train_config(flags).input.data.image_size, 299);
  flags.values["image_size"] = "320";
  EXPECT_EQ(resolve_train_config(flags).input.data.image_size, 320);
  TrainFlags resnet;
  resnet.values["model"] = "resnet50";
  EXPECT_EQ(resolve_train_config(resnet).input.data.image_size, 224);
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

TEST(TrainOptions, EpochsAloneScaleThePapersSchedule) {
  TrainFlags flags;
  flags.values["epochs"] = "10";
  std::string note;
  train::TrainConfig c = resolve_train_config(flags, &note);
  EXPECT_EQ(c.lr.warmup_epochs, 1);
  EXPECT_EQ(c.lr.decay_epochs, (std::vector<int64_t>{3, 7, 9}));
  EXPECT_NE(note.find("--epochs 10: the paper's warmup epochs 5 -> 1 and decay epochs 30,60,80 -> 3,7,9"),
            std::string::npos)
      << note;
  // What is set (by a flag or a file) is kept; only the rest is scaled.
  flags.values["warmup_epochs"] = "2";
  c = resolve_train_config(flags, &note);
  EXPECT_EQ(c.lr.warmup_epochs, 2);
  EXPECT_EQ(c.lr.decay_epochs, (std::vector<int64_t>{3, 7, 9}));
  EXPECT_EQ(note.find("warmup epochs"), std::string::npos) << note;
  flags.values["decay_epochs"] = "5";
  note.clear();
  c = resolve_train_config(flags, &note);
  EXPECT_EQ(c.lr.decay_epochs, (std::vector<int64_t>{5}));
  EXPECT_TRUE(note.empty()) << note;
  // Cosine has no decay epochs to scale; no --epochs leaves the paper's 90.
  TrainFlags cosine;
  cosine.values = {{"epochs", "5"}, {"decay", "cosine"}};
  c = resolve_train_config(cosine, &note);
  EXPECT_EQ(c.lr.warmup_epochs, 1);
  EXPECT_EQ(note.find("decay epochs"), std::string::npos) << note;
  c = resolve_train_config(TrainFlags{});
  EXPECT_EQ(c.lr.warmup_epochs, 5);
  EXPECT_EQ(c.lr.decay_epochs, (std::vector<int64_t>{30, 60, 80}));
}

TEST(TrainOptions, EpochsInAFileScaleWhatTheFileLeaves) {
  const auto path = std::filesystem::temp_directory_path() / "bigbatch_train_options_epochs.toml";
  std::ofstream(path) << "epochs = 5\nwarmup_epochs = 0\n";
  TrainFlags flags;
  flags.config_path = path.string();
  const train::TrainConfig c = resolve_train_config(flags);
  EXPECT_EQ(c.lr.warmup_epochs, 0);
  EXPECT_EQ(c.lr.decay_epochs, (std::vector<int64_t>{2, 3, 4}));
  std::filesystem::remove(path);
}

TEST(TrainOptions, MaxImagePixelsDefaultsToPilsLimit) {
  EXPECT_EQ(train::TrainConfig{}.input.data.max_image_pixels, 89478485);  // PIL's Image.MAX_IMAGE_PIXELS
  TrainFlags flags;
  flags.values["max_image_pixels"] = "1000";
  EXPECT_EQ(resolve_train_config(flags).input.data.max_image_pixels, 1000);
  EXPECT_EQ(apply_toml({}, "max_image_pixels = 5000\n", "a.toml").input.data.max_image_pixels, 5000);
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
