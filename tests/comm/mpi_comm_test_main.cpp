// Real MPI runs, started by ctest under mpirun (not a gtest program). "checks": collectives
// and async allreduce give the expected results on every rank; "abort": rank 1 throws, calls
// abort, and the whole job must end with a non-zero status.
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bigbatch/comm/mpi_comm.h"
#include "bigbatch/core/error.h"
#include "bigbatch/core/rng.h"

namespace {

using bigbatch::comm::Communicator;
using bigbatch::comm::Work;

#define EXPECT_OR_THROW(cond, what)                                                           \
  do {                                                                                        \
    if (!(cond)) BIGBATCH_THROW(std::runtime_error, "check failed: " #cond " (" << what << ")"); \
  } while (0)

// FNV-1a over bytes: compares reduced buffers across ranks without shipping them.
uint64_t fingerprint(const void* data, size_t bytes) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < bytes; ++i) h = (h ^ static_cast<const unsigned char*>(data)[i]) * 1099511628211ull;
  return h;
}

void expect_same_on_every_rank(Communicator& c, uint64_t value, const char* what) {
  std::vector<uint64_t> all(static_cast<size_t>(c.size()));
  c.allgather(&value, all.data(), sizeof(value));
  for (int k = 0; k < c.size(); ++k) EXPECT_OR_THROW(all[static_cast<size_t>(k)] == value, what << " differs on rank " << k);
}

void run_checks(Communicator& c) {
  const int size = c.size(), rank = c.rank();
  const float rank_sum = static_cast<float>(size * (size - 1) / 2);
  // f32 allreduce on odd lengths, exact in float (small integers).
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1000003}}) {
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(rank + i % 7);
    c.allreduce_sum(v.data(), n);
    for (int64_t i = 0; i < n; ++i)
      EXPECT_OR_THROW(v[static_cast<size_t>(i)] == rank_sum + static_cast<float>(size * (i % 7)), "n " << n << " i " << i);
  }
  // Random floats: whatever the summation order MPI picks, every rank must get the same bits.
  {
    bigbatch::Rng rng(static_cast<uint64_t>(rank + 1));
    std::vector<float> v(100003);
    for (float& x : v) x = static_cast<float>(rng.normal());
    c.allreduce_sum(v.data(), static_cast<int64_t>(v.size()));
    expect_same_on_every_rank(c, fingerprint(v.data(), v.size() * sizeof(float)), "random f32 sum");
  }
  // f64 and int64 (metrics).
  std::vector<double> d = {0.5 * rank, 1.0};
  std::vector<int64_t> k = {(int64_t{1} << 40) * rank, 3};
  c.allreduce_sum(d.data(), 2);
  c.allreduce_sum(k.data(), 2);
  EXPECT_OR_THROW(d[0] == 0.5 * rank_sum && d[1] == size, "f64");
  EXPECT_OR_THROW(k[0] == (int64_t{1} << 40) * static_cast<int64_t>(rank_sum) && k[1] == 3 * size, "i64");
  // Broadcast from every root, odd byte counts.
  for (int root = 0; root < size; ++root)
    for (int64_t bytes : {int64_t{0}, int64_t{1}, int64_t{13}, int64_t{100001}}) {
      std::vector<unsigned char> b(static_cast<size_t>(bytes));
      for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<unsigned char>(rank * 31 + i);
      c.broadcast(b.data(), bytes, root);
      for (size_t i = 0; i < b.size(); ++i)
        EXPECT_OR_THROW(b[i] == static_cast<unsigned char>(root * 31 + i), "broadcast root " << root << " byte " << i);
    }
  // Allgather, separate and in place.
  for (int64_t bytes : {int64_t{1}, int64_t{13}, int64_t{4099}}) {
    std::vector<char> send(static_cast<size_t>(bytes)), recv(static_cast<size_t>(bytes * size));
    for (int64_t i = 0; i < bytes; ++i) send[static_cast<size_t>(i)] = static_cast<char>(rank * 13 + i);
    c.allgather(send.data(), recv.data(), bytes);
    std::vector<char> inplace(recv.size());
    std::memcpy(inplace.data() + bytes * rank, send.data(), send.size());
    c.allgather(inplace.data() + bytes * rank, inplace.data(), bytes);
    for (int r = 0; r < size; ++r)
      for (int64_t i = 0; i < bytes; ++i) {
        EXPECT_OR_THROW(recv[static_cast<size_t>(r * bytes + i)] == static_cast<char>(r * 13 + i), "allgather");
        EXPECT_OR_THROW(inplace[static_cast<size_t>(r * bytes + i)] == static_cast<char>(r * 13 + i), "in place");
      }
  }
  // Async: several in flight while this thread goes on, waited out of order.
  std::vector<std::vector<float>> bufs;
  for (int64_t n : {int64_t{1}, int64_t{1000003}, int64_t{7}, int64_t{3 << 20}})
    bufs.emplace_back(static_cast<size_t>(n), static_cast<float>(rank + 1));
  std::vector<std::unique_ptr<Work>> work;
  for (std::vector<float>& b : bufs) work.push_back(c.allreduce_sum_async(b.data(), static_cast<int64_t>(b.size())));
  while (!work.front()->test()) {
  }
  for (size_t i = work.size(); i-- > 0;) work[i]->wait();
  const float expected = static_cast<float>(size * (size + 1) / 2);
  for (const std::vector<float>& b : bufs)
    for (float x : b) EXPECT_OR_THROW(x == expected, "async sum " << x);
  EXPECT_OR_THROW(work.back()->busy_seconds() > 0.0, "busy time");
  c.barrier();
}

void run_abort(Communicator& c) {
  std::vector<float> v(1000, 1.0f);
  c.allreduce_sum(v.data(), 1000);
  if (c.rank() == 1) throw std::runtime_error("injected failure");
  // The others block in collectives rank 1 never joins: only MPI_Abort can end them.
  std::unique_ptr<Work> w = c.allreduce_sum_async(v.data(), 1000);
  c.barrier();
  w->wait();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "checks" && mode != "abort") {
    std::fprintf(stderr, "usage: mpi_comm_test_main checks|abort (under mpirun)\n");
    return 2;
  }
  if (!bigbatch::comm::launched_by_mpi()) {
    std::fprintf(stderr, "mpi_comm_test: not started by mpirun\n");
    return 2;
  }
  std::unique_ptr<bigbatch::comm::MpiSession> session;
  try {
    session = std::make_unique<bigbatch::comm::MpiSession>();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mpi_comm_test: %s\n", e.what());
    return 1;
  }
  {
    std::unique_ptr<Communicator> comm;
    try {
      comm = session->make_communicator(60);  // every collective through the stall watch's gate
      if (comm->size() < 2) BIGBATCH_THROW(std::runtime_error, "needs at least 2 ranks, got " << comm->size());
      if (mode == "checks") run_checks(*comm);
      else run_abort(*comm);
    } catch (const std::exception& e) {
      // As the CLI does: one line with the rank, then abort so that no peer hangs.
      std::fprintf(stderr, "[rank %d] error: %s\n", session->rank(), e.what());
      std::fflush(stderr);
      if (comm) comm->abort(3);
      session->abort(3);
    }
    std::printf("[rank %d/%d] %s ok\n", comm->rank(), comm->size(), mode.c_str());
  }
  return 0;
}
