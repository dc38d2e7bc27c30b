// Runs one function per rank of an in-process group, one thread each. A rank that throws
// aborts the group so that its peers fail instead of hanging; errors come back as strings.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bigbatch/comm/communicator.h"

namespace bigbatch::comm::testing {

// Returns one line per rank that threw, "rank r: what()", in rank order; empty when none did.
inline std::vector<std::string> run_ranks(const std::vector<std::unique_ptr<Communicator>>& comms,
                                          const std::function<void(Communicator&)>& fn) {
  std::vector<std::string> errors(comms.size());
  std::vector<std::thread> threads;
  threads.reserve(comms.size());
  for (size_t r = 0; r < comms.size(); ++r)
    threads.emplace_back([&, r] {
      try {
        fn(*comms[r]);
      } catch (const std::exception& e) {
        errors[r] = "rank " + std::to_string(r) + ": " + e.what();
        comms[r]->abort(1);
      }
    });
  for (std::thread& t : threads) t.join();
  std::vector<std::string> thrown;
  for (const std::string& e : errors)
    if (!e.empty()) thrown.push_back(e);
  return thrown;
}

}  // namespace bigbatch::comm::testing
