// The train and test splits of a named dataset, as the trainer and `bigbatch eval` load them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "bigbatch/data/augment.h"
#include "bigbatch/data/dataset.h"
#include "bigbatch/data/example_source.h"
#include "bigbatch/data/jpeg_codec.h"

namespace bigbatch::train {

struct DatasetSpec {
  // fashion-mnist | mnist | cifar10 | cifar100 | synthetic (in memory) |
  // imagefolder | imageshards (JPEG files, read as needed: README "ImageNet-style input")
  std::string name = "fashion-mnist";
  std::string dir;                     // empty: the dataset's default directory
  int64_t synthetic_size = 4096;       // synthetic: training examples (test: a quarter)
  int64_t image_size = 224;            // JPEG: output crop size
  bool skip_bad_images = false;        // JPEG: replace unreadable images instead of failing
  // JPEG: an image whose header claims more pixels is a bad image.
  int64_t max_image_pixels = data::kDefaultMaxImagePixels;
};

// An in-memory split; `seed` draws the synthetic data (the run's seed). Throws InvalidArgument
// "[data] unknown dataset 'x'; known: ..." or the reader's error; a JPEG dataset (imagefolder,
// imageshards) is not in memory: use open_dataset.
data::Dataset load_dataset(const DatasetSpec& spec, bool train, uint64_t seed);

bool is_jpeg_dataset(const std::string& name);  // imagefolder | imageshards

// Threads that read and decode batches, the one rule of `train` and `eval`: `requested` when
// > 0; else, for a JPEG dataset, half the cores shared among the job's ranks on this machine
// (at least 1), and 1 for an in-memory one (its batches are copies).
int decode_threads_for(const std::string& dataset, int64_t requested);

// A split as the trainer and evaluator read it. In memory: load_dataset with `augment` as its
// training transform. JPEG: train/ or val/ of an ImageFolder tree, or the shards of `bigbatch
// pack` (imageshards, or imagefolder on a folder holding train.index), with RandomResizedCrop
// and flip as the training transform when augment.kind is standard (else the evaluation one).
// augment.seed is the run's seed: it also draws synthetic data.
std::unique_ptr<data::ExampleSource> open_dataset(const DatasetSpec& spec, bool train,
                                                  const data::AugmentOptions& augment);

}  // namespace bigbatch::train
