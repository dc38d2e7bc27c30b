// The optimizer keys of `bigbatch train` (RECIPE §9): --optimizer sgd|lars, --lars-eta and
// --lars-on-bn as flags and TOML keys, written back into config.toml, and one clear error.
#include <gtest/gtest.h>

#include <string>

#include "bigbatch/cli/train_options.h"
#include "bigbatch/core/error.h"

namespace bigbatch::cli {
namespace {

std::string error_of(const TrainFlags& flags) {
  try {
    resolve_train_config(flags);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(OptimizerOptions, DefaultIsSgdWithTheUsualEta) {
  const train::TrainConfig c = resolve_train_config(TrainFlags{});
  EXPECT_EQ(c.optimizer.kind, optim::OptimizerKind::sgd);
  EXPECT_EQ(c.optimizer.lars_eta, 0.001);
  EXPECT_FALSE(c.optimizer.lars_on_bn_and_bias);
}

TEST(OptimizerOptions, LarsFlagsParse) {
  TrainFlags flags;
  flags.values["optimizer"] = "lars";
  flags.values["lars_eta"] = "0.002";
  flags.values["decay"] = "poly";  // LARS's usual schedule: warmup, then (1 − t/T)²
  flags.values["poly_power"] = "2";
  const train::TrainConfig c = resolve_train_config(flags);
  EXPECT_EQ(c.optimizer.kind, optim::OptimizerKind::lars);
  EXPECT_EQ(c.optimizer.lars_eta, 0.002);
  EXPECT_EQ(c.lr.schedule, optim::LrSchedule::poly);
  EXPECT_EQ(c.lr.poly_power, 2.0);
}

TEST(OptimizerOptions, TomlKeysRoundTrip) {
  const train::TrainConfig c =
      apply_toml({}, "optimizer = \"lars\"\nlars_eta = 0.0025\nlars_on_bn = \"on\"\n", "lars.toml");
  EXPECT_EQ(c.optimizer.kind, optim::OptimizerKind::lars);
  EXPECT_EQ(c.optimizer.lars_eta, 0.0025);
  EXPECT_TRUE(c.optimizer.lars_on_bn_and_bias);
  const std::string text = to_toml(c);
  EXPECT_NE(text.find("optimizer = \"lars\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lars_eta = 0.0025"), std::string::npos) << text;
  EXPECT_EQ(to_toml(apply_toml({}, text, "back.toml")), text);
}

TEST(OptimizerOptions, UnknownOptimizerIsOneClearError) {
  TrainFlags flags;
  flags.values["optimizer"] = "adam";
  const std::string e = error_of(flags);
  EXPECT_EQ(e, "[config] --optimizer: [optim] expected sgd or lars, got 'adam'");
  EXPECT_EQ(e.find('\n'), std::string::npos);
  const std::string from_file = [] {
    try {
      apply_toml({}, "optimizer = \"adam\"\n", "a.toml");
    } catch (const InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  }();
  EXPECT_NE(from_file.find("a.toml"), std::string::npos) << from_file;
  EXPECT_NE(from_file.find("'adam'"), std::string::npos) << from_file;
}

TEST(OptimizerOptions, LarsEtaMustBePositive) {
  TrainFlags flags;
  flags.values["optimizer"] = "lars";
  flags.values["lars_eta"] = "0";
  EXPECT_NE(error_of(flags).find("lars-eta: expected > 0"), std::string::npos) << error_of(flags);
  flags.values["lars_eta"] = "tiny";
  EXPECT_NE(error_of(flags).find("--lars-eta"), std::string::npos) << error_of(flags);
}

}  // namespace
}  // namespace bigbatch::cli
