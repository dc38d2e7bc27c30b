// Evaluation on a held-out split: inference with the BN running statistics, top-1 and
// top-5 error and the mean cross-entropy over every example.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "bigbatch/comm/communicator.h"
#include "bigbatch/core/arena.h"
#include "bigbatch/data/example_source.h"
#include "bigbatch/nn/cuda_executor.h"
#include "bigbatch/nn/executor.h"
#include "bigbatch/nn/graph.h"

namespace bigbatch::train {

struct EvalResult {
  double loss = 0.0;                      // mean over examples
  double top1_err = 0.0, top5_err = 0.0;  // fractions
  int64_t examples = 0;
};

class Evaluator {
 public:
  // Plans executors for batches of `batch` (and one for the remainder) once; the arenas,
  // source and pool must outlive the evaluator, which reads the current parameters at every
  // run(). Examples go through the source's evaluation transform, decoded on pool (null: the
  // calling thread alone). With a communicator of R ranks, rank r evaluates the r-th of R
  // contiguous shards and run() sums the counts over ranks, so every rank returns the whole
  // split's result.
  Evaluator(const nn::Graph& graph, const Arena& params, const Arena& buffers, const data::ExampleSource& source,
            int64_t batch, DType precision, comm::Communicator* comm = nullptr, data::TaskPool* pool = nullptr,
            const nn::DeviceChoice& device = {});
  EvalResult run();

 private:
  const nn::Graph& graph_;
  const data::ExampleSource& source_;
  comm::Communicator* comm_;
  data::TaskPool* pool_;
  int64_t begin_ = 0, end_ = 0;  // this rank's shard
  int64_t batch_;
  std::unique_ptr<nn::Executor> full_, remainder_;
  Tensor images_;
  std::vector<int32_t> labels_;
  std::vector<int64_t> indices_;
  std::vector<float> head_logits_;  // the main head's columns (graphs with several heads)
};

// `bigbatch eval`: a checkpoint (or PyTorch weights) on a dataset's test split, set up as the
// trainer sets up its evaluation (the same dataset opening, decode-thread rule, device arenas).
struct CheckpointEval {
  std::string checkpoint;
  std::string model;  // empty: the one a bigbatch checkpoint records
  std::string dataset = "fashion-mnist";
  std::string data_dir;
  int64_t batch = 500;
  DType precision = DType::f32;
  nn::DeviceChoice device{};
  int64_t image_size = 0;      // JPEG datasets: the centre crop; 0 = 224, or the model's if larger (299)
  int64_t decode_threads = 0;  // 0: decode_threads_for's default
};
// Throws InvalidArgument naming the flag for a bad value, or the reader's error. `model` is set
// to the network evaluated.
EvalResult evaluate_checkpoint(const CheckpointEval& job, std::string& model);

}  // namespace bigbatch::train
