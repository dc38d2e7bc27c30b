#include "bigbatch/train/datasets.h"

#include <algorithm>
#include <cstddef>

#include "bigbatch/comm/mpi_comm.h"
#include "bigbatch/core/error.h"
#include "bigbatch/data/cifar.h"
#include "bigbatch/data/idx.h"
#include "bigbatch/data/image_folder.h"
#include "bigbatch/data/image_shards.h"
#include "bigbatch/data/jpeg_source.h"
#include "bigbatch/data/synthetic.h"
#include "bigbatch/data/task_pool.h"

namespace bigbatch::train {

data::Dataset load_dataset(const DatasetSpec& spec, bool train, uint64_t seed) {
  if (spec.name == "fashion-mnist" || spec.name == "mnist") {
    BIGBATCH_CHECK(spec.name == "fashion-mnist" || !spec.dir.empty(),
                   "[data] mnist: give its directory with --data-dir (only Fashion-MNIST has a default)");
    data::Dataset d = data::load_mnist(spec.dir.empty() ? data::kFashionMnistDir : spec.dir, train);
    if (spec.name == "mnist") {
      // MNIST's own statistics (LeCun et al.), not Fashion-MNIST's.
      d.mean = {0.1307f};
      d.stddev = {0.3081f};
    }
    return d;
  }
  if (spec.name == "cifar10")
    return data::load_cifar10(spec.dir.empty() ? "data/cifar-10-batches-bin" : spec.dir, train);
  if (spec.name == "cifar100") return data::load_cifar100(spec.dir.empty() ? "data/cifar-100-binary" : spec.dir, train);
  if (spec.name == "synthetic") {
    // One draw of train + test examples, split: both share the class patterns, and the test
    // examples' noise differs from every training example's.
    const int64_t train_size = spec.synthetic_size, test_size = std::max<int64_t>(spec.synthetic_size / 4, 1);
    data::SyntheticOptions o;
    o.size = train_size + test_size;
    o.channels = 1;
    o.height = o.width = 28;
    o.seed = seed;
    data::Dataset d = data::make_synthetic(o);
    const int64_t begin = train ? 0 : train_size, count = train ? train_size : test_size;
    const auto chw = static_cast<size_t>(d.example_numel());
    d.pixels = std::vector<uint8_t>(
        d.pixels.begin() + static_cast<std::ptrdiff_t>(begin * static_cast<int64_t>(chw)),
        d.pixels.begin() + static_cast<std::ptrdiff_t>((begin + count) * static_cast<int64_t>(chw)));
    d.labels = std::vector<int32_t>(d.labels.begin() + begin, d.labels.begin() + begin + count);
    d.name = train ? "synthetic train" : "synthetic test";
    return d;
  }
  BIGBATCH_CHECK(!is_jpeg_dataset(spec.name),
                 "[data] " << spec.name << " is read from JPEG files, not loaded in memory");
  BIGBATCH_THROW(InvalidArgument, "[data] unknown dataset '"
                                      << spec.name
                                      << "'; known: fashion-mnist, mnist, cifar10, cifar100, synthetic, imagefolder, "
                                         "imageshards");
}

bool is_jpeg_dataset(const std::string& name) { return name == "imagefolder" || name == "imageshards"; }

int decode_threads_for(const std::string& dataset, int64_t requested) {
  if (requested > 0) return static_cast<int>(requested);
  if (!is_jpeg_dataset(dataset)) return 1;
  return std::max(1, data::default_decode_threads() / comm::local_ranks());
}

std::unique_ptr<data::ExampleSource> open_dataset(const DatasetSpec& spec, bool train,
                                                  const data::AugmentOptions& augment) {
  if (!is_jpeg_dataset(spec.name)) return std::make_unique<data::DatasetSource>(load_dataset(spec, train, augment.seed), augment);
  BIGBATCH_CHECK(!spec.dir.empty(), "[data:" << spec.name << "] give the folder with --data-dir");
  const std::string split = train ? "train" : "val";
  // A folder that holds a train.index is read as shards whatever the name says.
  const bool shards = spec.name == "imageshards" || data::has_image_shards(spec.dir);
  data::JpegSourceOptions o;
  o.transform.size = spec.image_size;
  o.transform.flip = augment.flip;
  o.transform.seed = augment.seed;
  o.augment = augment.kind == data::AugmentKind::standard;
  o.skip_bad_images = spec.skip_bad_images;
  o.max_image_pixels = spec.max_image_pixels;
  return std::make_unique<data::JpegSource>(
      shards ? data::open_image_shards(spec.dir, split) : data::open_image_folder(spec.dir, split), o);
}

}  // namespace bigbatch::train
