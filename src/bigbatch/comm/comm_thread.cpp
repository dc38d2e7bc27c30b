// The communication thread and the Work handles it completes.
#include "bigbatch/comm/comm_thread.h"

#include <chrono>
#include <exception>
#include <string>

#include "bigbatch/core/error.h"

namespace bigbatch::comm {

// A failure crosses threads as a kind and a message, and each waiter throws its own copy:
// sharing one exception object through std::exception_ptr works, but its reference count
// lives in uninstrumented libstdc++, which makes ThreadSanitizer report races.
enum class ErrorKind { none, invalid_argument, comm };

struct CommThread::Request {
  std::function<void()> fn;
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  ErrorKind error = ErrorKind::none;
  std::string message;
  double busy_s = 0;

  // With mutex held.
  void throw_if_failed() const {
    if (error == ErrorKind::invalid_argument) throw InvalidArgument(message);
    if (error == ErrorKind::comm) throw CommError(message);
  }
};

namespace {

class ThreadWork final : public Work {
 public:
  explicit ThreadWork(std::shared_ptr<CommThread::Request> request) : request_(std::move(request)) {}

  void wait() override {
    std::unique_lock lock(request_->mutex);
    request_->done_cv.wait(lock, [&] { return request_->done; });
    request_->throw_if_failed();
  }

  bool test() override {
    std::lock_guard lock(request_->mutex);
    if (request_->done) request_->throw_if_failed();
    return request_->done;
  }

  double busy_seconds() const override {
    std::lock_guard lock(request_->mutex);
    return request_->done ? request_->busy_s : 0.0;
  }

 private:
  std::shared_ptr<CommThread::Request> request_;  // shared: the handle may outlive the thread
};

}  // namespace

CommThread::CommThread() : thread_([this] { loop(); }) {}

CommThread::~CommThread() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

std::unique_ptr<Work> CommThread::submit(std::function<void()> fn) {
  auto request = std::make_shared<Request>();
  request->fn = std::move(fn);
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(request);
  }
  wake_.notify_one();
  return std::make_unique<ThreadWork>(std::move(request));
}

void CommThread::run(std::function<void()> fn) { submit(std::move(fn))->wait(); }

void CommThread::loop() {
  for (;;) {
    std::shared_ptr<Request> request;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      request = std::move(queue_.front());
      queue_.pop_front();
    }
    const auto start = std::chrono::steady_clock::now();
    ErrorKind error = ErrorKind::none;
    std::string message;
    try {
      request->fn();
    } catch (const InvalidArgument& e) {
      error = ErrorKind::invalid_argument;
      message = e.what();
    } catch (const std::exception& e) {
      // CommError, or anything a backend lets through: to the caller it is a failed collective.
      error = ErrorKind::comm;
      message = e.what();
    }
    const double busy = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    request->fn = nullptr;  // release captures before waking the waiter
    {
      std::lock_guard lock(request->mutex);
      request->done = true;
      request->error = error;
      request->message = std::move(message);
      request->busy_s = busy;
    }
    request->done_cv.notify_all();
  }
}

}  // namespace bigbatch::comm
