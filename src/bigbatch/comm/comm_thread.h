// A dedicated communication thread: a FIFO of collectives run one at a time, so that the
// compute thread can start an allreduce and go on with backward (used by every backend).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "bigbatch/comm/communicator.h"

namespace bigbatch::comm {

class CommThread {
 public:
  CommThread();
  // Runs whatever is still queued, then joins: every rank must issue the same collectives,
  // so dropping a queued one would leave peers waiting for it.
  ~CommThread();
  CommThread(const CommThread&) = delete;
  CommThread& operator=(const CommThread&) = delete;

  // Queues fn behind every earlier request. The Work rethrows a failure as InvalidArgument
  // (if fn threw one) or CommError (anything else), with the same message.
  std::unique_ptr<Work> submit(std::function<void()> fn);
  // submit(fn)->wait(): synchronous calls queue too, to keep program order with async ones.
  void run(std::function<void()> fn);

  struct Request;  // shared by the queue and the Work handle (defined in the .cpp)

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Request>> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once the queue exists
};

}  // namespace bigbatch::comm
