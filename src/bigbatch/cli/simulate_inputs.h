// What `bigbatch simulate` feeds the scaling model: a network's parameter gradients, layer by
// layer in backward order, with their sizes and the time backward makes each one final.
#pragma once

#include <string>
#include <vector>

#include "bigbatch/nn/graph.h"
#include "bigbatch/sim/profile.h"
#include "bigbatch/sim/schedule.h"

namespace bigbatch::cli {

// How a total backward time is spread over the layers when no profile is given.
enum class BackwardSpread { flops, params };
BackwardSpread parse_backward_spread(const std::string& name);  // "flops" | "params"

// One LayerGrad per node with parameters, in backward order (descending node id, the order of
// comm::plan_buckets), bytes = its tensors' share of the gradient arena, padding included.
// Node i's share of backward_s is proportional to its forward multiply-adds (flops: backward of
// a conv or fc layer costs about twice its forward, so the proportion holds; BN, ReLU, add and
// pooling count 0) or to its parameter count (params); its gradients are ready once backward
// has done every node from the output down to it.
std::vector<sim::LayerGrad> layers_from_spread(const nn::Graph& graph, double backward_s, BackwardSpread spread);

// Ready times from a measured profile (bench/overlap/*.profile), scaled by backward_s /
// profile.backward_s (so a CPU profile's shape can stand for another device's backward).
// Throws InvalidArgument "[simulate] PROFILE: ..." for an event on a node without parameters or
// outside the graph, and for a node with parameters that has no event.
std::vector<sim::LayerGrad> layers_from_profile(const nn::Graph& graph, const sim::BackwardProfile& profile,
                                                double backward_s, const std::string& origin);

}  // namespace bigbatch::cli
