// The optimizer on a parameter server's part of the model (--ps-update server, MXNet's
// update_on_kvstore): the same optim::Sgd the workers run, one per unit of the exchange (a
// piece of a bucket's part), with each segment's weight decay by its tensor's role. SGD is element-wise,
// so the weights are the ones the workers would compute. LARS needs whole tensors' norms, which
// a split key does not have on one server: it is refused (the workers update for LARS).
#pragma once

#include <memory>
#include <vector>

#include "bigbatch/comm/parameter_server.h"
#include "bigbatch/core/arena.h"
#include "bigbatch/optim/sgd.h"

namespace bigbatch::train {

class ShardOptimizer final : public comm::ShardUpdater {
 public:
  // Throws InvalidArgument for LARS.
  explicit ShardOptimizer(const optim::SgdOptions& options);

  void plan(std::shared_ptr<const ArenaLayout> layout,
            const std::vector<std::vector<comm::Segment>>& segments) override;
  void load(size_t unit, const float* weights, const float* momentum) override;
  void set_prev_lr(double lr) override;
  void update(size_t unit, float* sum_then_weights, double lr) override;
  void read_momentum(size_t unit, float* out) const override;

 private:
  // One unit: its segments as the tensors of a layout of their own.
  struct Part {
    Arena weights, grads;
    std::unique_ptr<optim::Sgd> sgd;
  };
  // Throws InvalidArgument for a unit this server does not hold.
  const Part& part(size_t unit) const;

  optim::SgdOptions options_;
  std::vector<Part> parts_;
};

}  // namespace bigbatch::train
