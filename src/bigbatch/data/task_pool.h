// A small pool of threads for data loading: parallel_for(n, f) runs f(0) .. f(n−1) on the
// pool's threads and on the caller's, and returns when all are done. Several callers may use
// one pool at once (the training loader and the evaluator); each waits only for its own tasks.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace bigbatch::data {

class TaskPool {
 public:
  // threads >= 1 in all, the caller included: threads − 1 helpers are started.
  explicit TaskPool(int threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  int threads() const { return static_cast<int>(helpers_.size()) + 1; }

  // Runs task(i) for every i in [0, count), in any order and on any thread. If tasks throw,
  // the remaining ones are skipped and the exception of the lowest failing index is
  // rethrown here, so the error a caller sees does not depend on thread timing.
  void parallel_for(int64_t count, const std::function<void(int64_t)>& task);

 private:
  struct Job;
  void work();
  static void run_tasks(Job& job);

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> jobs_;  // jobs with tasks not yet claimed
  bool stop_ = false;
  std::vector<std::thread> helpers_;
};

// threads for --decode-threads 0: half the usable cores (at least 1, at most 16). Decoders sleep
// while the queue of ready batches is full, so they take only the time they need; the
// other half is left to the compute threads.
int default_decode_threads();

}  // namespace bigbatch::data
