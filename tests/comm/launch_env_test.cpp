// launched_by_mpi() reads the launchers' variables; built_with_mpi() follows BIGBATCH_MPI.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "bigbatch/comm/mpi_comm.h"
#include "bigbatch/core/error.h"

namespace bigbatch::comm {
namespace {

const char* const kLauncherVariables[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_NTASKS"};

// Clears the launchers' variables for the test's duration, then restores them.
class CleanLaunchEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kLauncherVariables) {
      const char* value = std::getenv(name);
      saved_.push_back(value ? std::optional<std::string>(value) : std::nullopt);
      unsetenv(name);
    }
  }
  void TearDown() override {
    for (size_t i = 0; i < saved_.size(); ++i) {
      if (saved_[i]) setenv(kLauncherVariables[i], saved_[i]->c_str(), 1);
      else unsetenv(kLauncherVariables[i]);
    }
  }

 private:
  std::vector<std::optional<std::string>> saved_;
};

TEST_F(CleanLaunchEnv, EachLauncherIsRecognised) {
  EXPECT_FALSE(launched_by_mpi());
  for (const char* name : kLauncherVariables) {
    setenv(name, "2", 1);
    EXPECT_TRUE(launched_by_mpi()) << name;
    unsetenv(name);
  }
  EXPECT_FALSE(launched_by_mpi());
}

TEST(BuiltWithMpi, MatchesTheBuildOption) {
#ifdef BIGBATCH_TEST_MPI
  EXPECT_TRUE(built_with_mpi());
#else
  EXPECT_FALSE(built_with_mpi());
  EXPECT_THROW(MpiSession(), CommError);
#endif
}

}  // namespace
}  // namespace bigbatch::comm
