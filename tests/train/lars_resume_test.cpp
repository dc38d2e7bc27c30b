// LARS in the trainer (RECIPE §9): a LARS run resumed from its checkpoint ends with the same
// bits as the uninterrupted run (its only state is the momentum buffer), and the run header
// records the optimizer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "bigbatch/train/trainer.h"
#include "testing/small_train_config.h"

namespace bigbatch::train {
namespace {

namespace fs = std::filesystem;

TrainConfig lars_config(const fs::path& out) {
  TrainConfig c = bigbatch::testing::small_train_config(out.string());
  c.lr.schedule = optim::LrSchedule::poly;  // LARS's usual schedule: warmup, then (1 − t/T)²
  c.lr.poly_power = 2.0;
  c.lr.base_lr = 2.0;
  c.optimizer.kind = optim::OptimizerKind::lars;
  c.optimizer.lars_eta = 0.01;
  return c;
}

bool same_bits(const Arena& a, const Arena& b) {
  return a.total_elems() == b.total_elems() &&
         std::memcmp(a.data(), b.data(), static_cast<size_t>(a.total_elems()) * sizeof(float)) == 0;
}

TEST(LarsTraining, ResumeIsBitwiseIdenticalAndHeaderNamesLars) {
  const fs::path dir = fs::temp_directory_path() / ("bigbatch_lars_resume_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  Trainer uninterrupted(lars_config(dir / "full"), "");
  EXPECT_EQ(uninterrupted.run().steps, 12);

  TrainConfig first = lars_config(dir / "split");
  first.run.max_iters = 7;  // inside the second epoch, after warmup
  {
    Trainer t(first, "");
    EXPECT_EQ(t.run().steps, 7);
  }
  TrainConfig rest = lars_config(dir / "split");
  rest.run.resume = rest.run.out;
  Trainer resumed(rest, "");
  EXPECT_EQ(resumed.run().steps, 12);
  EXPECT_TRUE(same_bits(uninterrupted.params(), resumed.params()));
  EXPECT_TRUE(same_bits(uninterrupted.buffers(), resumed.buffers()));

  // The run moved: LARS did update the weights (not a no-op that would resume trivially).
  Trainer untrained(lars_config(dir / "none"), "");
  EXPECT_FALSE(same_bits(uninterrupted.params(), untrained.params()));

  std::ifstream metrics(dir / "full" / "metrics.jsonl");
  std::string header;
  std::getline(metrics, header);
  EXPECT_NE(header.find("\"optimizer\":\"lars\""), std::string::npos) << header;
  EXPECT_NE(header.find("\"lars_eta\":0.01"), std::string::npos) << header;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace bigbatch::train
