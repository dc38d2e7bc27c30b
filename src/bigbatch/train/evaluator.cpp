#include "bigbatch/train/evaluator.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>

#include "bigbatch/data/task_pool.h"
#include "bigbatch/io/safetensors.h"
#include "bigbatch/models/registry.h"
#include "bigbatch/nn/device_arena.h"
#include "bigbatch/ops/accuracy.h"
#include "bigbatch/ops/softmax_cross_entropy.h"
#include "bigbatch/train/checkpoint.h"
#include "bigbatch/train/datasets.h"

namespace bigbatch::train {

Evaluator::Evaluator(const nn::Graph& graph, const Arena& params, const Arena& buffers,
                     const data::ExampleSource& source, int64_t batch, DType precision, comm::Communicator* comm,
                     data::TaskPool* pool, const nn::DeviceChoice& device)
    : graph_(graph), source_(source), comm_(comm), pool_(pool) {
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
  if (graph.heads().size() > 1) head_logits_.resize(static_cast<size_t>(batch_ * graph.num_classes()));
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
    if (graph_.heads().size() > 1) {
      // Evaluation reads the main head only (the auxiliary one trains the network).
      nn::gather_head(graph_.heads()[0], graph_.output_columns(), count, logits, head_logits_.data());
      logits = head_logits_.data();
    }
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
  // NaN logits rank as nothing, which would read as a perfect score.
  BIGBATCH_CHECK(std::isfinite(r.loss), "[eval] the model's outputs on " << source_.name() << " are not finite (loss "
                                                                         << r.loss
                                                                         << "): its weights hold NaN or Inf, or "
                                                                            "the forward pass overflowed");
  return r;
}

EvalResult evaluate_checkpoint(const CheckpointEval& job, std::string& model) {
  model = job.model;
  if (model.empty()) {
    io::SafetensorsFile file = io::SafetensorsFile::read(job.checkpoint);
    auto it = file.metadata().find("bigbatch.model");
    BIGBATCH_CHECK(it != file.metadata().end(),
                   "[eval] " << job.checkpoint << " does not record its model; give it with --model");
    model = it->second;
  }
  BIGBATCH_CHECK(job.batch > 0, "[eval] --batch: expected > 0, got " << job.batch);
  BIGBATCH_CHECK(job.image_size >= 0, "[eval] --image-size: expected > 0, got " << job.image_size);
  BIGBATCH_CHECK(job.decode_threads >= 0, "[eval] --decode-threads: expected >= 0, got " << job.decode_threads);
  DatasetSpec spec;
  spec.name = job.dataset;
  spec.dir = job.data_dir;
  spec.image_size = job.image_size > 0 ? job.image_size : models::usual_image_size(model);
  std::unique_ptr<data::ExampleSource> test = open_dataset(spec, false, data::AugmentOptions{});
  const data::ExampleShape shape = test->example_shape();
  const nn::Graph graph = models::build_model({model, shape.channels, shape.height, shape.width, test->num_classes()});
  Arena params(graph.parameter_layout()), buffers(graph.buffer_layout());
  load_weights(job.checkpoint, model, params, buffers);
  // Where the evaluation computes (nothing is copied on the CPU).
  const Arena on_device_params =
      job.device.device == Device::cpu ? params : nn::make_arena(graph.parameter_layout(), job.device.device);
  const Arena on_device_buffers =
      job.device.device == Device::cpu ? buffers : nn::make_arena(graph.buffer_layout(), job.device.device);
  nn::copy_arena(on_device_params, params);
  nn::copy_arena(on_device_buffers, buffers);
  data::TaskPool pool(decode_threads_for(job.dataset, job.decode_threads));
  Evaluator evaluator(graph, on_device_params, on_device_buffers, *test, job.batch, job.precision, nullptr, &pool,
                      job.device);
  return evaluator.run();
}

}  // namespace bigbatch::train
