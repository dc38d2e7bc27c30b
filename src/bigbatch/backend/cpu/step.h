// A planned sequence of oneDNN executions: each step is a primitive with its argument map
// (built once, at plan time), a small host-side function, or a gradients-ready hook point.
// Running a StepList allocates nothing.
#pragma once

#include <functional>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

namespace bigbatch::backend::cpu {

using ArgMap = std::unordered_map<int, dnnl::memory>;

class StepList {
 public:
  // Every primitive step gets `scratchpad` as DNNL_ARG_SCRATCHPAD (primitives are created
  // with scratchpad_mode::user, so one buffer serves them all).
  explicit StepList(dnnl::memory scratchpad = {}) : scratchpad_(std::move(scratchpad)) {}

  // `where` prefixes a BackendError if the execution fails ("[conv2d] forward").
  void add(const dnnl::primitive& primitive, ArgMap args, std::string where);
  void add_host(std::function<void()> fn);
  void add_hook(int id);

  // Runs the steps in order on stream; hook(id) at each hook point (after the stream drains).
  void run(dnnl::stream& stream, const std::function<void(int)>& hook = {}) const;
  size_t size() const { return steps_.size(); }
  void clear() { steps_.clear(); }

 private:
  struct Step {
    dnnl::primitive primitive;            // empty for host steps and hook points
    ArgMap args;                          // owns the memory objects that c_args point to
    std::vector<dnnl_exec_arg_t> c_args;  // flattened once, so a run builds no containers
    std::function<void()> host;
    int hook = -1;
    std::string where;
  };
  std::vector<Step> steps_;
  dnnl::memory scratchpad_;
};

}  // namespace bigbatch::backend::cpu
