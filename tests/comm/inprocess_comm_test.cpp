// The in-process communicator over world sizes 1..8 and odd lengths: sums bitwise equal to
// a serial sum in rank order on every rank, broadcast, allgather, barrier, async ordering,
// mismatched collectives and abort.
#include "bigbatch/comm/inprocess_comm.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <numeric>

#include "bigbatch/core/error.h"
#include "bigbatch/core/rng.h"
#include "comm/rank_threads.h"

namespace bigbatch::comm {
namespace {

using testing::run_ranks;

const std::vector<int64_t> kLengths = {0, 1, 7, 1000003};

std::vector<float> rank_values(int rank, int64_t n) {
  Rng rng(static_cast<uint64_t>(1000 + rank));
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(rng.normal());
  return v;
}

class InProcessComm : public ::testing::TestWithParam<int> {};

TEST_P(InProcessComm, AllreduceF32IsTheRankOrderSumOnEveryRank) {
  const int size = GetParam();
  for (int64_t n : kLengths) {
    std::vector<float> expected = rank_values(0, n);
    for (int r = 1; r < size; ++r) {
      const std::vector<float> v = rank_values(r, n);
      for (size_t i = 0; i < v.size(); ++i) expected[i] += v[i];
    }
    std::vector<std::vector<float>> results(static_cast<size_t>(size));
    const auto errors = run_ranks(make_inprocess_group(size), [&](Communicator& c) {
      std::vector<float> v = rank_values(c.rank(), n);
      c.allreduce_sum(v.data(), n);
      results[static_cast<size_t>(c.rank())] = std::move(v);
    });
    ASSERT_TRUE(errors.empty()) << errors.front();
    for (int r = 0; r < size; ++r)
      EXPECT_EQ(0, std::memcmp(results[static_cast<size_t>(r)].data(), expected.data(), expected.size() * sizeof(float)))
          << "rank " << r << " n " << n;
  }
}

TEST_P(InProcessComm, AllreduceF64AndI64) {
  const int size = GetParam();
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1003}}) {
    const auto errors = run_ranks(make_inprocess_group(size), [&](Communicator& c) {
      std::vector<double> d(static_cast<size_t>(n));
      std::vector<int64_t> k(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        d[static_cast<size_t>(i)] = 0.5 * c.rank() + static_cast<double>(i);
        k[static_cast<size_t>(i)] = (int64_t{1} << 40) * c.rank() + i;  // beyond 32 bits
      }
      c.allreduce_sum(d.data(), n);
      c.allreduce_sum(k.data(), n);
      const int64_t rank_sum = int64_t{size} * (size - 1) / 2;
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_EQ(d[static_cast<size_t>(i)], 0.5 * static_cast<double>(rank_sum) + static_cast<double>(size * i));
        EXPECT_EQ(k[static_cast<size_t>(i)], (int64_t{1} << 40) * rank_sum + size * i);
      }
    });
    ASSERT_TRUE(errors.empty()) << errors.front();
  }
}

TEST_P(InProcessComm, BroadcastFromEveryRoot) {
  const int size = GetParam();
  for (int64_t bytes : kLengths)
    for (int root = 0; root < size; ++root) {
      const auto errors = run_ranks(make_inprocess_group(size), [&](Communicator& c) {
        std::vector<unsigned char> b(static_cast<size_t>(bytes));
        for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<unsigned char>(c.rank() * 31 + i * 7);
        c.broadcast(b.data(), bytes, root);
        for (size_t i = 0; i < b.size(); ++i)
          if (b[i] != static_cast<unsigned char>(root * 31 + i * 7)) FAIL() << "byte " << i << " on rank " << c.rank();
      });
      ASSERT_TRUE(errors.empty()) << errors.front();
    }
}

TEST_P(InProcessComm, AllgatherAndInPlace) {
  const int size = GetParam();
  for (int64_t bytes : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1003}}) {
    const auto errors = run_ranks(make_inprocess_group(size), [&](Communicator& c) {
      auto value = [](int rank, int64_t i) { return static_cast<char>(rank * 13 + i); };
      std::vector<char> send(static_cast<size_t>(bytes)), recv(static_cast<size_t>(bytes * size));
      for (int64_t i = 0; i < bytes; ++i) send[static_cast<size_t>(i)] = value(c.rank(), i);
      c.allgather(send.data(), recv.data(), bytes);
      // In place: the own block already sits in recv.
      std::vector<char> inplace(static_cast<size_t>(bytes * size));
      std::copy(send.begin(), send.end(), inplace.begin() + bytes * c.rank());
      c.allgather(inplace.data() + bytes * c.rank(), inplace.data(), bytes);
      for (int k = 0; k < size; ++k)
        for (int64_t i = 0; i < bytes; ++i) {
          ASSERT_EQ(recv[static_cast<size_t>(k * bytes + i)], value(k, i));
          ASSERT_EQ(inplace[static_cast<size_t>(k * bytes + i)], value(k, i));
        }
    });
    ASSERT_TRUE(errors.empty()) << errors.front();
  }
}

TEST_P(InProcessComm, BarrierSeparatesRounds) {
  const int size = GetParam();
  std::atomic<int> arrived{0};
  const auto errors = run_ranks(make_inprocess_group(size), [&](Communicator& c) {
    for (int round = 1; round <= 20; ++round) {
      ++arrived;
      c.barrier();
      EXPECT_GE(arrived.load(), round * size);  // nobody leaves round k before all entered it
      c.barrier();
    }
  });
  ASSERT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(arrived.load(), 20 * size);
}

TEST_P(InProcessComm, AsyncAllreducesRunInProgramOrder) {
  const int size = GetParam();
  const auto errors = run_ranks(make_inprocess_group(size), [&](Communicator& c) {
    std::vector<std::vector<float>> bufs;
    for (int64_t n : kLengths) bufs.push_back(std::vector<float>(static_cast<size_t>(n), static_cast<float>(c.rank() + 1)));
    std::vector<std::unique_ptr<Work>> work;
    for (std::vector<float>& b : bufs) work.push_back(c.allreduce_sum_async(b.data(), static_cast<int64_t>(b.size())));
    // A synchronous collective queues behind the async ones: once it returns they are done.
    c.barrier();
    for (size_t i = 0; i < work.size(); ++i) EXPECT_TRUE(work[i]->test()) << i;
    for (size_t i = work.size(); i-- > 0;) work[i]->wait();  // any order, any number of times
    work.front()->wait();
    const float expected = static_cast<float>(size * (size + 1) / 2);
    for (const std::vector<float>& b : bufs)
      for (float x : b) ASSERT_EQ(x, expected);
    EXPECT_GE(work.back()->busy_seconds(), 0.0);
  });
  ASSERT_TRUE(errors.empty()) << errors.front();
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, InProcessComm, ::testing::Range(1, 9));

TEST(InProcessCommErrors, MismatchedCollectivesThrowOnEveryRank) {
  std::atomic<int> thrown{0};
  const auto errors = run_ranks(make_inprocess_group(3), [&](Communicator& c) {
    std::vector<float> v(8, 1.0f);
    try {
      c.allreduce_sum(v.data(), c.rank() == 2 ? 8 : 7);
    } catch (const CommError& e) {
      EXPECT_NE(std::string(e.what()).find("mismatch"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("[rank " + std::to_string(c.rank()) + "]"), std::string::npos);
      ++thrown;
    }
  });
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(thrown.load(), 3);
}

TEST(InProcessCommErrors, AbortWakesPeersAndPoisonsTheGroup) {
  const auto errors = run_ranks(make_inprocess_group(4), [&](Communicator& c) {
    if (c.rank() == 1) {
      c.abort(7);
      return;
    }
    std::vector<float> v(5, 1.0f);
    std::unique_ptr<Work> w = c.allreduce_sum_async(v.data(), 5);
    EXPECT_THROW(w->wait(), CommError);
    try {
      c.barrier();
      ADD_FAILURE() << "barrier after abort returned";
    } catch (const CommError& e) {
      EXPECT_NE(std::string(e.what()).find("aborted by rank 1 (code 7)"), std::string::npos) << e.what();
    }
  });
  EXPECT_TRUE(errors.empty()) << errors.front();
}

TEST(InProcessCommErrors, ARankThatThrowsDoesNotHangItsPeers) {
  const auto errors = run_ranks(make_inprocess_group(3), [&](Communicator& c) {
    if (c.rank() == 0) throw std::runtime_error("injected");
    c.barrier();
  });
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0], "rank 0: injected");
  EXPECT_NE(errors[1].find("aborted by rank 0"), std::string::npos) << errors[1];
}

TEST(InProcessCommErrors, InvalidArguments) {
  EXPECT_THROW(make_inprocess_group(0), InvalidArgument);
  auto comms = make_inprocess_group(1);
  Communicator& c = *comms[0];
  std::vector<float> v(3);
  EXPECT_THROW(c.allreduce_sum(v.data(), -1), InvalidArgument);
  EXPECT_THROW(c.allreduce_sum(static_cast<float*>(nullptr), 3), InvalidArgument);
  EXPECT_THROW(c.broadcast(v.data(), 4, 1), InvalidArgument);
  EXPECT_EQ(c.rank(), 0);
  EXPECT_EQ(c.size(), 1);
  c.allreduce_sum(static_cast<float*>(nullptr), 0);  // an empty buffer may be null
}

}  // namespace
}  // namespace bigbatch::comm
