// Layers of a model graph for the scaling model: sizes from the parameter layout, ready times
// from a total backward time (spread by FLOPs or parameters) or from a measured profile.
#include "bigbatch/cli/simulate_inputs.h"

#include <algorithm>
#include <map>
#include <variant>

#include "bigbatch/core/error.h"

namespace bigbatch::cli {

namespace {

// Gradient bytes of a node, as the reducer's buckets count them (0: no parameters).
int64_t node_bytes(const nn::Graph& graph, const nn::Node& n) {
  int64_t elems = 0;
  for (int index : {n.weights, n.bias, n.gamma, n.beta})
    if (index >= 0) elems += ArenaLayout::padded(graph.parameter_layout()->entry(index).shape.numel());
  return elems * static_cast<int64_t>(sizeof(float));
}

// Forward multiply-adds of one example, as Graph::forward_flops_per_example counts them.
double node_macs(const nn::Node& n) {
  if (n.kind == nn::OpKind::conv2d) {
    const auto& p = std::get<ops::Conv2dParams>(n.params);
    return static_cast<double>(n.c * n.h * n.w * p.in_channels * p.kernel_h * p.kernel_w);
  }
  if (n.kind == nn::OpKind::linear) {
    const auto& p = std::get<ops::LinearParams>(n.params);
    return static_cast<double>(p.in_features * p.out_features);
  }
  return 0.0;
}

}  // namespace

BackwardSpread parse_backward_spread(const std::string& name) {
  if (name == "flops") return BackwardSpread::flops;
  if (name == "params") return BackwardSpread::params;
  BIGBATCH_THROW(InvalidArgument, "[simulate] --spread: expected flops or params, got '" << name << "'");
}

std::vector<sim::LayerGrad> layers_from_spread(const nn::Graph& graph, double backward_s, BackwardSpread spread) {
  std::vector<double> weight(static_cast<size_t>(graph.size()), 0.0);
  double total = 0.0;  // summed in backward order, as `done` below: the last layer lands on backward_s exactly
  for (int id = graph.size() - 1; id >= 0; --id) {
    const nn::Node& n = graph.node(id);
    double w = 0.0;
    switch (spread) {
      case BackwardSpread::flops: w = node_macs(n); break;
      case BackwardSpread::params: w = static_cast<double>(node_bytes(graph, n)); break;
    }
    weight[static_cast<size_t>(id)] = w;
    total += w;
  }
  BIGBATCH_CHECK(total > 0, "[simulate] the model has nothing to spread the backward time over");
  std::vector<sim::LayerGrad> layers;
  double done = 0.0;  // weight of the nodes backward has finished
  for (int id = graph.size() - 1; id >= 0; --id) {
    done += weight[static_cast<size_t>(id)];
    const nn::Node& n = graph.node(id);
    const int64_t bytes = node_bytes(graph, n);
    if (bytes > 0) layers.push_back({n.name, bytes, backward_s * std::min(1.0, done / total)});
  }
  return layers;
}

std::vector<sim::LayerGrad> layers_from_profile(const nn::Graph& graph, const sim::BackwardProfile& profile,
                                                double backward_s, const std::string& origin) {
  std::map<int, double> ready;
  for (const sim::ProfileEvent& e : profile.events) {
    BIGBATCH_CHECK(e.node < graph.size() && node_bytes(graph, graph.node(e.node)) > 0,
                   "[simulate] " << origin << ": node " << e.node << " is not a layer with parameters of "
                                 << profile.model);
    ready[e.node] = e.t_s * backward_s / profile.backward_s;
  }
  std::vector<sim::LayerGrad> layers;
  for (int id = graph.size() - 1; id >= 0; --id) {
    const nn::Node& n = graph.node(id);
    const int64_t bytes = node_bytes(graph, n);
    if (bytes == 0) continue;
    auto it = ready.find(id);
    BIGBATCH_CHECK(it != ready.end(), "[simulate] " << origin << ": no gradient-ready event for node " << id << " ('"
                                                    << n.name << "')");
    layers.push_back({n.name, bytes, it->second});
  }
  return layers;
}

}  // namespace bigbatch::cli
