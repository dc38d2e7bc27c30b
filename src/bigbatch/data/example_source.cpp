// The in-memory source and the batch writer that fans a batch out over a task pool.
#include "bigbatch/data/example_source.h"

#include <algorithm>

#include "bigbatch/core/error.h"
#include "bigbatch/data/task_pool.h"

namespace bigbatch::data {

DatasetSource::DatasetSource(Dataset dataset, const AugmentOptions& augment)
    : dataset_(std::move(dataset)), augment_(augment) {
  validate(dataset_);
  BIGBATCH_CHECK(
      augment_.kind == AugmentKind::none ||
          (augment_.pad >= 0 && augment_.pad < std::min(dataset_.height, dataset_.width)),
      "[data:augment] padding " << augment_.pad << " outside [0, " << std::min(dataset_.height, dataset_.width) << ")");
}

void DatasetSource::write(Transform transform, int64_t epoch, std::span<const int64_t> indices, std::span<float> dst,
                          std::span<int32_t> labels) const {
  switch (transform) {
    case Transform::train:
      return write_augmented(dataset_, augment_, epoch, indices, dst, labels);
    case Transform::eval:
      return write_normalized(dataset_, indices, dst, labels);
  }
}

void write_batch(const ExampleSource& source, TaskPool* pool, Transform transform, int64_t epoch,
                 std::span<const int64_t> indices, std::span<float> dst, std::span<int32_t> labels) {
  const int64_t numel = source.example_shape().numel();
  const auto count = static_cast<int64_t>(indices.size());
  BIGBATCH_CHECK(static_cast<int64_t>(dst.size()) == count * numel && labels.size() == indices.size(),
                 "[data] " << source.name() << ": batch of " << count << " needs " << count * numel << " floats and "
                           << count << " labels, got " << dst.size() << " and " << labels.size());
  if (pool == nullptr || pool->threads() == 1) return source.write(transform, epoch, indices, dst, labels);
  pool->parallel_for(count, [&](int64_t b) {
    const auto i = static_cast<size_t>(b);
    source.write(transform, epoch, indices.subspan(i, 1),
                 dst.subspan(i * static_cast<size_t>(numel), static_cast<size_t>(numel)), labels.subspan(i, 1));
  });
}

}  // namespace bigbatch::data
