// Internal to cpu_executor.cpp: what the CPU executor plans for each graph node (its
// kernel, output layout, buffers) and how each backward delivers the diffs of its inputs.
#pragma once

#include <cstdlib>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "bigbatch/backend/cpu/batch_norm.h"
#include "bigbatch/backend/cpu/binary.h"
#include "bigbatch/backend/cpu/concat.h"
#include "bigbatch/backend/cpu/conv2d.h"
#include "bigbatch/backend/cpu/dropout.h"
#include "bigbatch/backend/cpu/eltwise.h"
#include "bigbatch/backend/cpu/inner_product.h"
#include "bigbatch/backend/cpu/pooling.h"
#include "bigbatch/backend/cpu/reorder.h"
#include "bigbatch/core/error.h"
#include "bigbatch/nn/execution_plan.h"
#include "bigbatch/nn/graph.h"

namespace bigbatch::nn::cpu_plan {

namespace cpu = backend::cpu;
using dnnl::memory;

// How a node's backward delivers the diff of one of its inputs.
enum class RouteKind {
  none,      // the input needs no diff
  direct,    // first contribution: written straight into the input's diff buffer
  via_temp,  // later contribution: written to a temporary, then added to the input's diff
  discard,   // the kernel always writes a diff_src, but nobody needs it
  alias,     // add: the input's diff IS the add's diff (same buffer, no copy)
  copy,      // add: first contribution, copied (layouts differ or aliasing is unsafe)
  add_to,    // add: later contribution, added in place
};

struct Route {
  RouteKind kind = RouteKind::none;
  int temp = -1;  // buffer id (via_temp, discard)
  memory temp_mem;
  std::unique_ptr<cpu::Accumulate> accumulate;
  std::unique_ptr<cpu::Reorder> copy;
};

struct NodePlan {
  std::unique_ptr<cpu::Conv2d> conv;
  std::unique_ptr<cpu::BatchNorm> bn;
  std::unique_ptr<cpu::Relu> relu;
  std::unique_ptr<cpu::Pool> pool;
  std::unique_ptr<cpu::InnerProduct> linear;
  std::unique_ptr<cpu::Add> add;
  std::unique_ptr<cpu::Concat> concat;
  std::unique_ptr<cpu::Dropout> dropout;
  memory::desc md;          // layout of the output (and of its diff)
  int in_place = -1;        // add / relu: the input position whose buffer dst overwrites
  int act = -1, diff = -1;  // buffer ids (-1: none or user memory)
  memory act_mem, diff_mem;
  std::vector<Route> routes;  // one per input
};

inline bool needs_own_dst(const Node& n) { return n.kind == OpKind::relu || (n.kind == OpKind::add && n.fuse_relu); }

// What the oneDNN backward primitives read of their forward: conv, BN and fc their src, ReLU
// and a fused add their dst; pooling, concat and dropout neither (max pooling keeps its
// workspace, dropout its mask).
inline BackwardReads cpu_backward_reads(const Node& n) {
  return {n.kind == OpKind::conv2d || n.kind == OpKind::batch_norm || n.kind == OpKind::linear, needs_own_dst(n)};
}

// BIGBATCH_CONV_ALGORITHM=direct|winograd|tuned (default tuned): for A/B measurements.
inline cpu::ConvAlgorithm conv_algorithm() {
  const char* env = std::getenv("BIGBATCH_CONV_ALGORITHM");
  const std::string name = env ? env : "tuned";
  if (name == "direct") return cpu::ConvAlgorithm::direct;
  if (name == "winograd") return cpu::ConvAlgorithm::winograd;
  BIGBATCH_CHECK(name == "tuned",
                 "[cpu_executor] BIGBATCH_CONV_ALGORITHM: expected direct, winograd or tuned, got '" << name << "'");
  return cpu::ConvAlgorithm::tuned;
}

}  // namespace bigbatch::nn::cpu_plan
