#include "bigbatch/core/threading.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <cstdlib>
#include <string>

#include "bigbatch/core/error.h"

namespace bigbatch {
namespace {

TEST(ShareCores, RanksThatSeeTheWholeMachineShareIt) {
  EXPECT_EQ(share_cores(16, 16, 1), 16);
  EXPECT_EQ(share_cores(16, 16, 4), 4);
  EXPECT_EQ(share_cores(2, 2, 3), 1);  // more ranks than cores: one thread each, never zero
}

TEST(ShareCores, ARankBoundToItsCoresKeepsThem) {
  EXPECT_EQ(share_cores(4, 16, 4), 4);  // mpirun --bind-to: each rank already has its own four
  EXPECT_EQ(share_cores(1, 16, 16), 1);
}

// Restores the calling thread's affinity mask (and OMP_NUM_THREADS) at the end of a test.
class AffinityGuard {
 public:
  AffinityGuard() {
    CPU_ZERO(&saved_);
    sched_getaffinity(0, sizeof(saved_), &saved_);
    if (const char* omp = std::getenv("OMP_NUM_THREADS")) omp_ = omp;
    unsetenv("OMP_NUM_THREADS");
  }
  ~AffinityGuard() {
    sched_setaffinity(0, sizeof(saved_), &saved_);
    if (!omp_.empty()) setenv("OMP_NUM_THREADS", omp_.c_str(), 1);
  }
  const cpu_set_t& saved() const { return saved_; }

 private:
  cpu_set_t saved_;
  std::string omp_;
};

TEST(UsableCores, FollowsTheAffinityMask) {
  AffinityGuard guard;
  EXPECT_EQ(usable_cores(), CPU_COUNT(&guard.saved()));
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &guard.saved())) {
      CPU_SET(cpu, &one);
      break;
    }
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  EXPECT_EQ(usable_cores(), 1);
  const ThreadChoice choice = choose_threads(0, 1);
  EXPECT_EQ(choice.threads, 1);
  EXPECT_EQ(choice.cores, 1);
  EXPECT_TRUE(choice.warning.empty());
}

TEST(ChooseThreads, AnExplicitCountAboveTheCoresIsTakenWithAWarning) {
  AffinityGuard guard;
  const int cores = usable_cores();
  const ThreadChoice fits = choose_threads(cores, 1);
  EXPECT_EQ(fits.threads, cores);
  EXPECT_TRUE(fits.warning.empty());
  const ThreadChoice over = choose_threads(cores + 1, 1);
  EXPECT_EQ(over.threads, cores + 1);
  EXPECT_NE(over.warning.find("--threads " + std::to_string(cores + 1) + " is more than the " +
                              std::to_string(cores) + " core"),
            std::string::npos)
      << over.warning;
  EXPECT_THROW(choose_threads(-1, 1), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch
