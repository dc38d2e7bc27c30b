// The step: passes over micro-batches, the reduction, the loss scale and the update.
#include "bigbatch/train/train_step.h"

#include <cmath>
#include <variant>
#include <vector>

#include "bigbatch/backend/cuda/arena_ops.h"
#include "bigbatch/backend/cuda/device.h"
#include "bigbatch/core/error.h"
#include "bigbatch/nn/device_arena.h"
#include "bigbatch/ops/accuracy.h"
#include "bigbatch/ops/softmax_cross_entropy.h"

namespace bigbatch::train {

namespace {

const nn::Graph& planned_graph(const StepPlan& plan) {
  BIGBATCH_CHECK(plan.graph != nullptr, "[train] no graph for the training step");
  BIGBATCH_CHECK(plan.global_batch > 0 && plan.local_batch > 0 && plan.local_batch <= plan.global_batch,
                 "[train] a rank's batch " << plan.local_batch << " of a global batch " << plan.global_batch);
  return *plan.graph;
}

}  // namespace

TrainStep::TrainStep(const StepPlan& plan)
    : graph_(planned_graph(plan)),
      comm_(plan.comm),
      global_batch_(plan.global_batch),
      local_batch_(plan.local_batch),
      micro_(plan.micro_batch > 0 ? plan.micro_batch : plan.local_batch),
      aux_loss_weight_(plan.aux_loss_weight),
      seed_(plan.seed),
      first_example_(plan.first_example),
      servers_update_(plan.servers_update),
      scaler_(plan.precision == DType::f16) {
  BIGBATCH_CHECK(local_batch_ % micro_ == 0,
                 "[train] micro-batch " << micro_ << " does not divide the " << local_batch_ << " examples of a rank");
  const Device device = plan.device.device;
  // No GPU is one line saying so, before the first allocation fails less clearly.
  if (device == Device::cuda) backend::cuda::require_device("[cuda]", plan.device.cuda.device);
  params_ = nn::make_arena(graph_.parameter_layout(), device);
  grads_ = nn::make_arena(graph_.parameter_layout(), device);
  buffers_ = nn::make_arena(graph_.buffer_layout(), device);
  if (micro_batches() > 1) {
    grad_sum_ = nn::make_arena(graph_.parameter_layout(), device);
    buffers_start_ = nn::make_arena(graph_.buffer_layout(), device);
    buffers_sum_ = nn::make_arena(graph_.buffer_layout(), device);
  }
  sgd_.emplace(graph_.parameter_layout(), plan.sgd, device);
  executor_ =
      nn::make_executor(plan.device, {&graph_, &params_, &grads_, &buffers_}, {micro_, plan.bn_group, plan.precision});
  comm::Communicator* grad_comm = plan.grad_comm ? plan.grad_comm : plan.comm;
  const Arena& reduced = micro_batches() > 1 ? grad_sum_ : grads_;
  comm::ReducerOptions reducer = plan.reducer;
  if (reducer.exchange != nullptr && device == Device::cuda) {
    // The servers speak host memory: pushes and pulls go through pinned copies.
    auto pinned = [](const std::shared_ptr<const ArenaLayout>& layout) {
      return Arena(layout, backend::cuda::allocate_pinned_host_storage(static_cast<size_t>(layout->total_elems()) *
                                                                       sizeof(float)));
    };
    const bool weights = servers_update_ != nullptr;  // the pull brings weights, else sums
    host_grads_ = pinned(graph_.parameter_layout());
    if (weights) host_params_ = pinned(graph_.parameter_layout());
    staged_ = std::make_unique<HostStagedExchange>(
        *reducer.exchange,
        StagedArenas{&reduced, &host_grads_, weights ? &host_params_ : &host_grads_, weights ? &params_ : &reduced});
    reducer.exchange = staged_.get();
  }
  // Parameter servers take every push even from a lone worker; an allreduce needs two ranks.
  if (grad_comm != nullptr && (grad_comm->size() > 1 || reducer.exchange != nullptr))
    reducer_ = std::make_unique<comm::GradientReducer>(graph_.gradient_ranges(), reduced, *grad_comm, reducer);
  BIGBATCH_CHECK(std::isfinite(aux_loss_weight_) && aux_loss_weight_ >= 0.0,
                 "[train] the auxiliary loss weight must be finite and >= 0, got " << aux_loss_weight_);
  diff_logits_ = Tensor::zeros({micro_, graph_.output_columns()});
  if (servers_update_ != nullptr) {
    BIGBATCH_CHECK(reducer_ != nullptr && plan.reducer.exchange != nullptr,
                   "[train] the update on the servers needs the parameter servers' exchange");
    servers_update_->set_parameters(staged_ ? host_params_ : params_);
  }
}

double TrainStep::pass_loss(const float* logits, const int32_t* labels, int64_t& correct) {
  const auto kn = static_cast<double>(global_batch_);
  const std::vector<nn::Head>& heads = graph_.heads();
  float* diff = diff_logits_.data<float>();
  if (heads.size() == 1) {
    // Each worker's loss is its examples' sum divided by the global kn (RECIPE §4).
    const int64_t classes = heads[0].classes;
    correct += ops::topk_correct(micro_, classes, logits, labels, 1);
    ops::softmax_cross_entropy_backward(micro_, classes, logits, labels, kn, diff);
    return ops::softmax_cross_entropy_forward(micro_, classes, logits, labels, kn);
  }
  // Several heads side by side in the logits: each one's columns in turn, its loss weighted.
  const int64_t columns = graph_.output_columns();
  double loss = 0.0;
  for (size_t h = 0; h < heads.size(); ++h) {
    const int64_t classes = heads[h].classes, offset = heads[h].offset;
    const double weight = h == 0 ? 1.0 : aux_loss_weight_;
    head_logits_.resize(static_cast<size_t>(micro_ * classes));
    head_diff_.resize(head_logits_.size());
    nn::gather_head(heads[h], columns, micro_, logits, head_logits_.data());
    if (h == 0) correct += ops::topk_correct(micro_, classes, head_logits_.data(), labels, 1);
    loss += weight * ops::softmax_cross_entropy_forward(micro_, classes, head_logits_.data(), labels, kn);
    ops::softmax_cross_entropy_backward(micro_, classes, head_logits_.data(), labels, kn, head_diff_.data());
    for (int64_t i = 0; i < micro_; ++i)
      for (int64_t j = 0; j < classes; ++j)
        diff[i * columns + offset + j] = static_cast<float>(weight * head_diff_[static_cast<size_t>(i * classes + j)]);
  }
  return loss;
}

double TrainStep::run(const Tensor& images, const int32_t* labels, double lr, int64_t step, int64_t& correct) {
  const int64_t parts = micro_batches();
  double loss = 0.0;
  if (servers_update_ != nullptr) servers_update_->set_lr(lr);
  if (parts > 1) nn::copy_arena(buffers_start_, buffers_);
  for (int64_t j = 0; j < parts; ++j) {
    // Micro-batches are whole workers, so every BN group still has n examples (RECIPE §8).
    // Each starts from the step's running statistics and their results are averaged,
    // which is what one pass over all workers computes.
    if (parts > 1 && j > 0) nn::copy_arena(buffers_, buffers_start_);
    const Tensor part = images.slice(j * micro_, (j + 1) * micro_);
    // (this rank's v·n examples: workers r·v .. r·v+v−1 of the global batch)
    const int32_t* part_labels = labels + j * micro_;
    executor_->set_dropout_draw({seed_, static_cast<uint64_t>(step), first_example_ + j * micro_});
    executor_->forward(part, /*training=*/true);
    loss += pass_loss(executor_->logits().data<float>(), part_labels, correct);
    float* diff = diff_logits_.data<float>();
    if (scaler_.enabled())
      for (int64_t i = 0; i < diff_logits_.numel(); ++i) diff[i] *= scaler_.scale();
    // One pass: each bucket's allreduce starts as soon as backward has finished its layers.
    if (reducer_ && parts == 1) reducer_->begin_step();
    executor_->backward(diff_logits_, reducer_ && parts == 1 ? reducer_->hook() : nn::GradsReadyHook{});
    if (parts > 1) {
      if (j == 0) {
        nn::copy_arena(grad_sum_, grads_);
        nn::copy_arena(buffers_sum_, buffers_);
      } else {
        nn::add_arena(grad_sum_, grads_);
        nn::add_arena(buffers_sum_, buffers_);
      }
    }
  }
  if (parts > 1) {
    nn::scale_arena(buffers_sum_, 1.0f / static_cast<float>(parts));
    nn::copy_arena(buffers_, buffers_sum_);
  }
  if (reducer_) reducer_->finish();  // accumulated micro-batches reduce the whole arena here
  if (comm_ != nullptr && comm_->size() > 1) {
    double sums[2] = {loss, static_cast<double>(correct)};
    comm_->allreduce_sum(sums, 2);
    loss = sums[0];
    correct = static_cast<int64_t>(sums[1]);
  }
  if (servers_update_ != nullptr) {
    // The servers have updated, and the pulls brought the new weights: the run stops at a
    // non-finite loss all the same, from its last checkpoint.
    sgd_->set_prev_lr(lr);  // what a checkpoint records
    return loss;
  }
  if (!std::isfinite(loss)) return loss;  // every rank stops before the update
  const Arena& grads = parts > 1 ? grad_sum_ : grads_;
  if (scaler_.unscale(grads)) sgd_->step(params_, grads, lr);
  return loss;
}

}  // namespace bigbatch::train

namespace bigbatch::train {

void TrainStep::recompute_bn_statistics(int64_t count, const std::function<const Tensor&(int64_t)>& batch) {
  BIGBATCH_CHECK(count > 0, "[train] precise batch-norm statistics need at least one batch, got " << count);
  // A training forward from zeroed statistics leaves momentum x (the mean over the pass's
  // groups of each group's statistic) in them: summed over passes in double, divided at the end.
  Arena kept(graph_.buffer_layout()), pass(graph_.buffer_layout());
  nn::copy_arena(kept, buffers_);
  std::vector<double> sum(static_cast<size_t>(kept.total_elems()), 0.0);
  int64_t passes = 0;
  for (int64_t i = 0; i < count; ++i) {
    const Tensor& images = batch(i);
    BIGBATCH_CHECK(images.dim(0) == local_batch_,
                   "[train] a precise-BN batch of " << images.dim(0) << " examples; the step takes " << local_batch_);
    for (int64_t j = 0; j < micro_batches(); ++j) {
      nn::zero_arena(buffers_);
      executor_->forward(images.slice(j * micro_, (j + 1) * micro_), /*training=*/true);
      nn::copy_arena(pass, buffers_);
      for (size_t e = 0; e < sum.size(); ++e) sum[e] += pass.data()[e];
      ++passes;
    }
  }
  const ArenaLayout& layout = kept.layout();
  for (const nn::Node& node : graph_.nodes()) {
    if (node.kind != nn::OpKind::batch_norm) continue;
    const double momentum = std::get<ops::BatchNormParams>(node.params).momentum;
    BIGBATCH_CHECK(momentum > 0.0, "[train] " << node.name << ": precise statistics need a BN momentum > 0");
    for (int entry : {node.running_mean, node.running_var}) {
      const ArenaEntry& e = layout.entry(entry);
      for (int64_t c = 0; c < e.shape.numel(); ++c) {
        const auto at = static_cast<size_t>(e.offset + c);
        kept.data()[at] = static_cast<float>(sum[at] / (momentum * static_cast<double>(passes)));
      }
    }
  }
  nn::copy_arena(buffers_, kept);
}

}  // namespace bigbatch::train
