// Initialisers of RECIPE §6–7, walking the graph so each tensor gets the rule of its layer.
#include "bigbatch/nn/init.h"

#include <cmath>

#include "bigbatch/core/error.h"

namespace bigbatch::nn {

namespace {

void fill_normal(const Tensor& t, Rng& rng, double stddev) {
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(rng.normal(0.0, stddev));
}

// torchvision's Inception-v3: trunc_normal_(std=σ, a=−2, b=2), bounds absolute, not in σ.
void fill_truncated_normal(const Tensor& t, Rng& rng, double stddev) {
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    double x = rng.normal(0.0, stddev);
    while (x < -2.0 || x > 2.0) x = rng.normal(0.0, stddev);
    p[i] = static_cast<float>(x);
  }
}

void check_layout(const char* what, const ArenaLayout& graph_layout, const Arena& arena) {
  BIGBATCH_CHECK(
      arena.layout().size() == graph_layout.size() && arena.layout().total_elems() == graph_layout.total_elems(),
      "[init] the " << what << " arena (" << arena.layout().size() << " tensors) is not laid out by the graph's "
                    << what << " layout (" << graph_layout.size() << " tensors)");
}

}  // namespace

void initialize(const Graph& graph, const Arena& params, const Arena& buffers, Rng& rng, const InitOptions& options) {
  check_layout("parameter", *graph.parameter_layout(), params);
  check_layout("buffer", *graph.buffer_layout(), buffers);
  // Zeroing first covers the biases, β, running means and the padding between tensors.
  params.zero();
  buffers.zero();
  for (const Node& n : graph.nodes()) {
    switch (n.kind) {
      case OpKind::conv2d: {
        if (n.init_stddev > 0.0) {
          fill_truncated_normal(params.tensor(n.weights), rng, n.init_stddev);
          break;
        }
        // torchvision: kaiming_normal_(mode='fan_out', nonlinearity='relu'), fan-out = O·KH·KW.
        const auto& p = std::get<ops::Conv2dParams>(n.params);
        const double fan_out = static_cast<double>(p.out_channels * p.kernel_h * p.kernel_w);
        fill_normal(params.tensor(n.weights), rng, std::sqrt(2.0 / fan_out));
        break;
      }
      case OpKind::linear:
        if (n.init_stddev > 0.0) {
          fill_truncated_normal(params.tensor(n.weights), rng, n.init_stddev);
        } else {
          fill_normal(params.tensor(n.weights), rng, 0.01);
        }
        break;
      case OpKind::batch_norm:
        params.tensor(n.gamma).fill(n.last_bn_in_block && options.zero_gamma ? 0.0f : 1.0f);
        buffers.tensor(n.running_var).fill(1.0f);
        break;
      case OpKind::input:
      case OpKind::relu:
      case OpKind::max_pool:
      case OpKind::avg_pool:
      case OpKind::global_avg_pool:
      case OpKind::add:
      case OpKind::concat:
      case OpKind::dropout:
        break;
    }
  }
}

}  // namespace bigbatch::nn
