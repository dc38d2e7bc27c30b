// The train and test splits of a named dataset, as the trainer and `bigbatch eval` load them.
#pragma once

#include <cstdint>
#include <string>

#include "bigbatch/data/dataset.h"

namespace bigbatch::train {

struct DatasetSpec {
  std::string name = "fashion-mnist";  // fashion-mnist | mnist | cifar10 | cifar100 | synthetic
  std::string dir;                     // empty: the dataset's default directory
  int64_t synthetic_size = 4096;       // synthetic: training examples (test: a quarter)
  uint64_t seed = 0;                   // synthetic: the data's seed
};

// Throws InvalidArgument "[data] unknown dataset 'x'; known: ..." or the reader's error.
data::Dataset load_dataset(const DatasetSpec& spec, bool train);

}  // namespace bigbatch::train
