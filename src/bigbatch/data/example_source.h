// What the trainer and the evaluator read examples from: a numbered set of labelled images
// that it writes as normalised f32 CHW, either as in training (augmented per example,
// seeded by (seed, epoch, index)) or as in evaluation (deterministic). Implemented by the
// in-memory Dataset (DatasetSource) and by JPEG folders and shards (JpegSource).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "bigbatch/data/augment.h"
#include "bigbatch/data/dataset.h"

namespace bigbatch::data {

class TaskPool;

enum class Transform { train, eval };

struct ExampleShape {
  int64_t channels = 0, height = 0, width = 0;
  int64_t numel() const { return channels * height * width; }
};

class ExampleSource {
 public:
  virtual ~ExampleSource() = default;

  virtual const std::string& name() const = 0;  // for messages: "imagefolder /data/in/train"
  virtual int64_t size() const = 0;
  virtual int64_t num_classes() const = 0;
  virtual ExampleShape example_shape() const = 0;  // of every example write() produces

  // Writes examples indices[0..B) as f32 [B, C, H, W] into dst and their labels into labels.
  // Safe to call from several threads at once on disjoint outputs. Throws InvalidArgument
  // naming the example's file when it cannot be read.
  virtual void write(Transform transform, int64_t epoch, std::span<const int64_t> indices, std::span<float> dst,
                     std::span<int32_t> labels) const = 0;
};

// An in-memory Dataset: train = write_augmented with the given options, eval = write_normalized.
class DatasetSource final : public ExampleSource {
 public:
  DatasetSource(Dataset dataset, const AugmentOptions& augment);
  const std::string& name() const override { return dataset_.name; }
  int64_t size() const override { return dataset_.size(); }
  int64_t num_classes() const override { return dataset_.num_classes; }
  ExampleShape example_shape() const override { return {dataset_.channels, dataset_.height, dataset_.width}; }
  void write(Transform transform, int64_t epoch, std::span<const int64_t> indices, std::span<float> dst,
             std::span<int32_t> labels) const override;
  const Dataset& dataset() const { return dataset_; }

 private:
  Dataset dataset_;
  AugmentOptions augment_;
};

// source.write for a whole batch, one example per task on pool (the caller alone when pool is
// null). The output does not depend on the number of threads.
void write_batch(const ExampleSource& source, TaskPool* pool, Transform transform, int64_t epoch,
                 std::span<const int64_t> indices, std::span<float> dst, std::span<int32_t> labels);

}  // namespace bigbatch::data
