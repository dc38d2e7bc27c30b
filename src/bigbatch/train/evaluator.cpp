#include "bigbatch/train/evaluator.h"

#include <algorithm>
#include <numeric>
#include <span>

#include "bigbatch/ops/accuracy.h"
#include "bigbatch/ops/softmax_cross_entropy.h"

namespace bigbatch::train {

Evaluator::Evaluator(const nn::Graph& graph, const Arena& params, const Arena& buffers,
                     const data::ExampleSource& source, int64_t batch, DType precision, comm::Communicator* comm,
                     data::TaskPool* pool, const nn::DeviceChoice& device)
    : source_(source), comm_(comm), pool_(pool) {
  const int64_t ranks = comm ? comm->size() : 1, rank = comm ? comm->rank() : 0;
  BIGBATCH_CHECK(source.size() >= ranks, "[eval] " << source.name() << " has " << source.size()
                                                   << " examples, fewer than the " << ranks << " ranks");
  begin_ = source.size() * rank / ranks;
  end_ = source.size() * (rank + 1) / ranks;
  batch_ = std::min(batch, end_ - begin_);
  nn::ExecutorBindings bindings{&graph, &params, nullptr, &buffers};
  full_ = nn::make_executor(device, bindings, {batch_, 0, precision});
  if (int64_t rest = (end_ - begin_) % batch_; rest > 0)
    remainder_ = nn::make_executor(device, bindings, {rest, 0, precision});
  const data::ExampleShape shape = source.example_shape();
  images_ = Tensor::zeros({batch_, shape.channels, shape.height, shape.width});
  labels_.resize(static_cast<size_t>(batch_));
  indices_.resize(static_cast<size_t>(batch_));
}

EvalResult Evaluator::run() {
  EvalResult r;
  double loss_sum = 0.0;
  int64_t top1 = 0, top5 = 0;
  const int64_t classes = source_.num_classes();
  for (int64_t begin = begin_; begin < end_; begin += batch_) {
    const int64_t count = std::min(batch_, end_ - begin);
    nn::Executor& executor = count == batch_ ? *full_ : *remainder_;
    std::span<int64_t> indices(indices_.data(), static_cast<size_t>(count));
    std::iota(indices.begin(), indices.end(), begin);
    Tensor images = images_.slice(0, count);
    data::write_batch(source_, pool_, data::Transform::eval, 0, indices,
                      std::span<float>(images.data<float>(), static_cast<size_t>(images.numel())),
                      std::span<int32_t>(labels_.data(), static_cast<size_t>(count)));
    executor.forward(images, /*training=*/false);
    const float* logits = executor.logits().data<float>();
    loss_sum += ops::softmax_cross_entropy_forward(count, classes, logits, labels_.data(), 1.0);
    top1 += ops::topk_correct(count, classes, logits, labels_.data(), 1);
    top5 += ops::topk_correct(count, classes, logits, labels_.data(), std::min<int64_t>(5, classes));
  }
  if (comm_ != nullptr && comm_->size() > 1) {
    // Shards are reduced as sums; the counts are exact and the loss sum is a double.
    int64_t counts[2] = {top1, top5};
    comm_->allreduce_sum(counts, 2);
    comm_->allreduce_sum(&loss_sum, 1);
    top1 = counts[0];
    top5 = counts[1];
  }
  r.examples = source_.size();
  r.loss = loss_sum / static_cast<double>(r.examples);
  r.top1_err = 1.0 - static_cast<double>(top1) / static_cast<double>(r.examples);
  r.top5_err = 1.0 - static_cast<double>(top5) / static_cast<double>(r.examples);
  return r;
}

}  // namespace bigbatch::train
