// Parameter and buffer initialisation of a Graph (RECIPE §6–7): He normal fan-out convs,
// N(0, 0.01²) fully connected weights, zero biases, BN γ = 1 (zero-γ on the last BN of
// each residual block), β = 0, running mean 0, running variance 1; a layer with its own
// Node::init_stddev (Inception-v3) draws N(0, σ²) truncated to [−2, 2] instead.
#pragma once

#include "bigbatch/core/arena.h"
#include "bigbatch/core/rng.h"
#include "bigbatch/nn/graph.h"

namespace bigbatch::nn {

struct InitOptions {
  bool zero_gamma = true;  // γ = 0 on BNs marked last_bn_in_block (RECIPE §6)
};

// Writes every tensor of `params` and `buffers` (laid out by the graph's parameter and
// buffer layouts) and zeroes their alignment padding. Draws from `rng` in node order, so a
// seed gives the same weights on every platform.
void initialize(const Graph& graph, const Arena& params, const Arena& buffers, Rng& rng,
                const InitOptions& options = {});

}  // namespace bigbatch::nn
