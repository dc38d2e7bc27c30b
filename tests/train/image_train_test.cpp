// The trainer on JPEG input: a tiny resnet18 run on a generated ImageFolder tree at 32×32,
// the same run from its packed shards (bitwise the same weights), input-wait metrics, and a
// corrupt image stopping the run with the file's name (or skipped with --skip-bad-images).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "bigbatch/data/image_shards.h"
#include "bigbatch/train/trainer.h"
#include "data/jpeg_tree.h"

namespace bigbatch::train {
namespace {

namespace fs = std::filesystem;
using data::testing::TempDir;

class ImageTrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data::testing::write_tree(tree_.file("tree"), {{"ant", "bee", "cow", "dog"}, 4, 2, 56, 44, 90});
  }

  TrainConfig config(const std::string& name, const std::string& data_dir) const {
    TrainConfig c;
    c.model.name = "resnet18";
    c.input.data.name = "imagefolder";
    c.input.data.dir = data_dir;
    c.input.data.image_size = 32;
    c.batch.global = 8;
    c.batch.per_worker = 4;
    c.lr.epochs = 2;
    c.lr.warmup_epochs = 1;
    c.lr.decay_epochs = {};
    c.run.seed = 3;
    c.run.threads = 2;
    c.input.decode_threads = 2;
    c.run.eval_batch = 4;
    c.run.log_every = 1;
    c.run.progress = false;
    c.run.out = runs_.file(name);
    return c;
  }

  static bool same_bits(const Arena& a, const Arena& b) {
    return a.total_elems() == b.total_elems() &&
           std::memcmp(a.data(), b.data(), static_cast<size_t>(a.total_elems()) * sizeof(float)) == 0;
  }

  TempDir tree_, runs_;
};

TEST_F(ImageTrainTest, TrainsFromAFolderAndFromItsShardsAlike) {
  Trainer folder(config("folder", tree_.file("tree")), "");
  const TrainResult a = folder.run();
  EXPECT_EQ(a.steps, 4);  // 16 images / 8 per step × 2 epochs
  EXPECT_EQ(a.final_eval.examples, 8);
  EXPECT_TRUE(std::isfinite(a.final_eval.loss));

  // Every iter line reports the time the step waited for input.
  std::ifstream metrics(runs_.file("folder") + "/metrics.jsonl");
  int iter_lines = 0;
  for (std::string line; std::getline(metrics, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["kind"] != "iter") continue;
    ++iter_lines;
    ASSERT_TRUE(j.contains("input_wait_s")) << line;
    EXPECT_GE(j["input_wait_s"].get<double>(), 0.0);
  }
  EXPECT_EQ(iter_lines, 4);

  data::pack_image_folder(tree_.file("tree"), tree_.file("shards"), data::PackOptions{});
  TrainConfig c = config("shards", tree_.file("shards"));
  c.input.data.name = "imageshards";
  c.input.decode_threads = 1;  // another thread count: the same examples
  Trainer shards(c, "");
  const TrainResult b = shards.run();
  EXPECT_EQ(b.steps, a.steps);
  EXPECT_TRUE(same_bits(folder.params(), shards.params()));
  EXPECT_EQ(b.final_eval.top1_err, a.final_eval.top1_err);
}

TEST_F(ImageTrainTest, CorruptImageStopsTheRunOrIsSkipped) {
  data::testing::write_file(tree_.file("tree/train/bee/img1.jpg"), {'n', 'o', 'p', 'e'});
  try {
    Trainer(config("bad", tree_.file("tree")), "").run();
    ADD_FAILURE() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("[data:imagefolder] " + tree_.file("tree/train/bee/img1.jpg")),
              std::string::npos)
        << e.what();
  }
  TrainConfig c = config("skip", tree_.file("tree"));
  c.input.data.skip_bad_images = true;
  const TrainResult r = Trainer(c, "").run();
  EXPECT_EQ(r.steps, 4);
}

TEST_F(ImageTrainTest, PixelBudgetReachesTheDecoder) {
  TrainConfig c = config("budget", tree_.file("tree"));
  c.input.data.max_image_pixels = 56 * 44 - 1;  // every image of the tree is at least 56x44
  try {
    Trainer(c, "").run();
    ADD_FAILURE() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("pixels, over the limit of 2463 (--max-image-pixels"), std::string::npos)
        << e.what();
  }
}

TEST_F(ImageTrainTest, MissingDirectoryIsAClearError) {
  TrainConfig c = config("none", tree_.file("no-such-tree"));
  try {
    Trainer(c, "");
    ADD_FAILURE() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("split folder missing"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bigbatch::train
