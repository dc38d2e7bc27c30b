// Each parallel_for is a Job with an atomic cursor: the caller and any idle helper claim
// indices from it until none is left; the caller then waits for the tasks in flight.
#include "bigbatch/data/task_pool.h"

#include <algorithm>
#include <atomic>
#include <exception>

#include "bigbatch/core/error.h"
#include "bigbatch/core/threading.h"

namespace bigbatch::data {

struct TaskPool::Job {
  const std::function<void(int64_t)>* task = nullptr;
  int64_t count = 0;
  std::atomic<int64_t> next{0};
  std::mutex mutex;  // guards the fields below
  std::condition_variable finished;
  int64_t done = 0;
  int64_t error_index = -1;
  std::exception_ptr error;
};

TaskPool::TaskPool(int threads) {
  BIGBATCH_CHECK(threads >= 1, "[data:pool] expected at least 1 thread, got " << threads);
  for (int i = 1; i < threads; ++i) helpers_.emplace_back([this] { work(); });
}

TaskPool::~TaskPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : helpers_) t.join();
}

void TaskPool::run_tasks(Job& job) {
  for (;;) {
    const int64_t i = job.next.fetch_add(1);
    if (i >= job.count) return;
    std::exception_ptr error;
    // After a failure, later indices are only counted, so that the caller returns soon;
    // earlier ones still run, so the lowest failing index is found whatever the timing.
    bool skip;
    {
      std::lock_guard<std::mutex> lock(job.mutex);
      skip = job.error_index >= 0 && i > job.error_index;
    }
    if (!skip) {
      try {
        (*job.task)(i);
      } catch (...) {
        error = std::current_exception();
      }
    }
    std::lock_guard<std::mutex> lock(job.mutex);
    if (error && (job.error_index < 0 || i < job.error_index)) {
      job.error = error;
      job.error_index = i;
    }
    if (++job.done == job.count) job.finished.notify_all();
  }
}

void TaskPool::work() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = jobs_.front();
      // A job leaves the queue once every index is claimed; helpers still working hold it.
      if (job->next.load() >= job->count) {
        jobs_.pop_front();
        continue;
      }
    }
    run_tasks(*job);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!jobs_.empty() && jobs_.front() == job) jobs_.pop_front();
  }
}

void TaskPool::parallel_for(int64_t count, const std::function<void(int64_t)>& task) {
  if (count <= 0) return;
  auto job = std::make_shared<Job>();
  job->task = &task;
  job->count = count;
  if (!helpers_.empty() && count > 1) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(job);
    }
    wake_.notify_all();
  }
  run_tasks(*job);
  {
    std::unique_lock<std::mutex> lock(job->mutex);
    job->finished.wait(lock, [&] { return job->done == job->count; });
  }
  {
    // Every index is claimed: the job must not stay queued for the helpers.
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.erase(std::remove(jobs_.begin(), jobs_.end(), job), jobs_.end());
  }
  if (job->error) std::rethrow_exception(job->error);
}

int default_decode_threads() {
  const int cores = usable_cores();
  return std::clamp(cores / 2, 1, 16);
}

}  // namespace bigbatch::data
