// The in-process backend: a rendezvous with two barriers per collective. Between them every
// rank may read every other rank's posted buffers; outside them no rank touches another's.
#include "bigbatch/comm/inprocess_comm.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <sstream>
#include <string>

#include "bigbatch/comm/comm_thread.h"
#include "bigbatch/core/error.h"

namespace bigbatch::comm {
namespace {

enum class OpKind { allreduce_sum, broadcast, allgather, barrier };

// What one rank passed to the current collective.
struct Post {
  OpKind op = OpKind::barrier;
  ReduceType type = ReduceType::f32;
  int64_t count = 0;  // elements (allreduce) or bytes (broadcast, allgather per rank)
  int root = 0;
  const void* send = nullptr;
  void* recv = nullptr;

  bool matches(const Post& o) const {
    return op == o.op && type == o.type && count == o.count && root == o.root;
  }
  std::string describe() const {
    std::ostringstream s;
    switch (op) {
      case OpKind::allreduce_sum: s << "allreduce_sum(" << reduce_type_name(type) << ", " << count << ")"; break;
      case OpKind::broadcast: s << "broadcast(" << count << " bytes, root " << root << ")"; break;
      case OpKind::allgather: s << "allgather(" << count << " bytes per rank)"; break;
      case OpKind::barrier: s << "barrier()"; break;
    }
    return s.str();
  }
};

// Sums chunk [begin, end) over all ranks' buffers in rank order and writes the sum back into
// every buffer. Only this rank touches this chunk, so the in-place update is race-free.
template <class T>
void reduce_chunk(const std::vector<Post>& posts, int64_t begin, int64_t end) {
  constexpr int64_t kBlock = 1024;  // a stack block keeps the sum vectorised and in L1
  T sum[kBlock];
  for (int64_t b = begin; b < end; b += kBlock) {
    const int64_t n = std::min(kBlock, end - b);
    const T* first = static_cast<const T*>(posts[0].recv) + b;
    std::copy(first, first + n, sum);
    for (size_t k = 1; k < posts.size(); ++k) {
      const T* src = static_cast<const T*>(posts[k].recv) + b;
      for (int64_t i = 0; i < n; ++i) sum[i] += src[i];
    }
    for (const Post& p : posts) std::copy(sum, sum + n, static_cast<T*>(p.recv) + b);
  }
}

class Group {
 public:
  explicit Group(int size) : size_(size), posts_(static_cast<size_t>(size)) {}

  int size() const { return size_; }

  void run(int rank, const Post& post) {
    posts_[static_cast<size_t>(rank)] = post;
    // First barrier: abortable, since a peer that never arrives must not hang this rank.
    arrive(rank, /*abortable=*/true);
    std::string mismatch;
    for (int k = 0; k < size_ && mismatch.empty(); ++k)
      if (!posts_[static_cast<size_t>(k)].matches(posts_[0]))
        mismatch = "rank 0 called " + posts_[0].describe() + ", rank " + std::to_string(k) + " called " +
                   posts_[static_cast<size_t>(k)].describe();
    if (mismatch.empty()) execute(rank);
    // Second barrier: not abortable. Once all ranks passed the first one, each finishes its
    // part without waiting on anything, and a rank must not return (and free its buffer)
    // while a peer may still write its chunk into it.
    arrive(rank, /*abortable=*/false);
    if (!mismatch.empty()) BIGBATCH_THROW(CommError, "[rank " << rank << "] collective mismatch: " << mismatch);
  }

  void abort(int rank, int code) {
    {
      std::lock_guard lock(mutex_);
      if (!aborted_) {
        aborted_ = true;
        abort_rank_ = rank;
        abort_code_ = code;
      }
    }
    cv_.notify_all();
  }

 private:
  void arrive(int rank, bool abortable) {
    std::unique_lock lock(mutex_);
    if (abortable) throw_if_aborted(rank);
    const uint64_t generation = generation_;
    if (++arrived_ == size_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return generation_ != generation || (abortable && aborted_); });
    if (generation_ == generation) {
      --arrived_;  // leaving without completing: the barrier's count must not keep this rank
      throw_if_aborted(rank);
    }
  }

  void throw_if_aborted(int rank) const {
    if (aborted_)
      BIGBATCH_THROW(CommError, "[rank " << rank << "] the group was aborted by rank " << abort_rank_ << " (code "
                                         << abort_code_ << ")");
  }

  void execute(int rank) {
    const Post& mine = posts_[static_cast<size_t>(rank)];
    switch (mine.op) {
      case OpKind::allreduce_sum: {
        // Rank r owns chunk r: the ranks reduce in parallel, and every element's sum is still
        // taken in rank order, whatever the chunking.
        const int64_t begin = mine.count * rank / size_, end = mine.count * (rank + 1) / size_;
        switch (mine.type) {
          case ReduceType::f32: reduce_chunk<float>(posts_, begin, end); break;
          case ReduceType::f64: reduce_chunk<double>(posts_, begin, end); break;
          case ReduceType::i64: reduce_chunk<int64_t>(posts_, begin, end); break;
        }
        break;
      }
      case OpKind::broadcast:
        if (rank != mine.root && mine.count > 0)
          std::memcpy(mine.recv, posts_[static_cast<size_t>(mine.root)].recv, static_cast<size_t>(mine.count));
        break;
      case OpKind::allgather: {
        const size_t bytes = static_cast<size_t>(mine.count);
        for (int k = 0; k < size_ && bytes > 0; ++k) {
          char* dst = static_cast<char*>(mine.recv) + static_cast<size_t>(k) * bytes;
          // In place, the own block is already there; rewriting it would race with peers
          // reading it as this rank's send block.
          if (dst != posts_[static_cast<size_t>(k)].send) std::memcpy(dst, posts_[static_cast<size_t>(k)].send, bytes);
        }
        break;
      }
      case OpKind::barrier:
        break;
    }
  }

  const int size_;
  std::vector<Post> posts_;  // written by rank k before the first barrier, read between the two
  std::mutex mutex_;
  std::condition_variable cv_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  bool aborted_ = false;
  int abort_rank_ = -1, abort_code_ = 0;
};

class InProcessCommunicator final : public Communicator {
 public:
  InProcessCommunicator(std::shared_ptr<Group> group, int rank) : group_(std::move(group)), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return group_->size(); }

  void broadcast(void* data, int64_t bytes, int root) override {
    check_count("broadcast", bytes, data);
    BIGBATCH_CHECK(root >= 0 && root < size(),
                   "[rank " << rank_ << "] broadcast root " << root << " outside [0, " << size() << ")");
    run(Post{OpKind::broadcast, ReduceType::f32, bytes, root, nullptr, data});
  }

  void allgather(const void* send, void* recv, int64_t bytes_per_rank) override {
    check_count("allgather", bytes_per_rank, recv);
    BIGBATCH_CHECK(send != nullptr || bytes_per_rank == 0, "[rank " << rank_ << "] allgather of a null buffer");
    run(Post{OpKind::allgather, ReduceType::f32, bytes_per_rank, 0, send, recv});
  }

  void barrier() override { run(Post{}); }

  void abort(int code) override { group_->abort(rank_, code); }

 protected:
  void allreduce_sum_any(void* data, int64_t count, ReduceType type) override {
    check_count("allreduce_sum", count, data);
    run(Post{OpKind::allreduce_sum, type, count, 0, nullptr, data});
  }

  std::unique_ptr<Work> allreduce_sum_async_any(void* data, int64_t count, ReduceType type) override {
    check_count("allreduce_sum_async", count, data);
    const Post post{OpKind::allreduce_sum, type, count, 0, nullptr, data};
    return thread_.submit([this, post] { group_->run(rank_, post); });
  }

 private:
  void check_count(const char* op, int64_t count, const void* data) const {
    BIGBATCH_CHECK(count >= 0, "[rank " << rank_ << "] " << op << " of a negative count " << count);
    BIGBATCH_CHECK(data != nullptr || count == 0, "[rank " << rank_ << "] " << op << " of a null buffer");
  }
  void run(const Post& post) {
    thread_.run([this, &post] { group_->run(rank_, post); });
  }

  std::shared_ptr<Group> group_;
  int rank_;
  CommThread thread_;  // last: joined first, while group_ is still alive
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> make_inprocess_group(int size) {
  BIGBATCH_CHECK(size >= 1, "[comm] an in-process group needs size >= 1, got " << size);
  auto group = std::make_shared<Group>(size);
  std::vector<std::unique_ptr<Communicator>> comms;
  comms.reserve(static_cast<size_t>(size));
  for (int rank = 0; rank < size; ++rank) comms.push_back(std::make_unique<InProcessCommunicator>(group, rank));
  return comms;
}

}  // namespace bigbatch::comm
