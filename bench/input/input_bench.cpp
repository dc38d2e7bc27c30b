// Decode + augment throughput of bigbatch's JPEG input: the training split of a folder tree or
// of its packed shards, read in the sampler's order, each batch written (RandomResizedCrop,
// flip, normalise to f32 CHW) over a pool of T threads, as the trainer's loader does.
// Prints one JSON line: {"reader", "threads", "images", "img_per_s", "img_per_s_per_thread"}.
// Usage: input_bench --dir D --reader folder|shards [--threads 1] [--epochs 3] [--batch 64]
//        [--size 224] [--dct off]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bigbatch/core/error.h"
#include "bigbatch/data/image_folder.h"
#include "bigbatch/data/image_shards.h"
#include "bigbatch/data/jpeg_source.h"
#include "bigbatch/data/sampler.h"
#include "bigbatch/data/task_pool.h"

namespace {

using namespace bigbatch;

struct Args {
  std::string dir, reader = "folder";
  int threads = 1;
  int64_t epochs = 3, batch = 64, size = 224;
  bool dct = true;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--dir")
      a.dir = v;
    else if (k == "--reader")
      a.reader = v;
    else if (k == "--threads")
      a.threads = std::atoi(v.c_str());
    else if (k == "--epochs")
      a.epochs = std::atoll(v.c_str());
    else if (k == "--batch")
      a.batch = std::atoll(v.c_str());
    else if (k == "--size")
      a.size = std::atoll(v.c_str());
    else if (k == "--dct")
      a.dct = v != "off";
    else
      BIGBATCH_THROW(InvalidArgument, "[input_bench] unknown option " << k);
  }
  BIGBATCH_CHECK(!a.dir.empty() && (a.reader == "folder" || a.reader == "shards") && a.threads >= 1 && a.epochs >= 1 &&
                     a.batch >= 1,
                 "[input_bench] usage: --dir D --reader folder|shards [--threads T] [--epochs E] [--batch B]");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    data::JpegSourceOptions o;
    o.transform.size = a.size;
    o.transform.dct_scaling = a.dct;
    data::JpegSource source(
        a.reader == "shards" ? data::open_image_shards(a.dir, "train") : data::open_image_folder(a.dir, "train"), o);
    data::TaskPool pool(a.threads);
    data::EpochSampler sampler(source.size(), a.batch, 0, true);
    const auto batch = static_cast<size_t>(a.batch);
    std::vector<float> images(batch * static_cast<size_t>(source.example_shape().numel()));
    std::vector<int32_t> labels(batch);
    std::vector<int64_t> indices(batch);
    // Epoch 0 warms the page cache and the threads' buffers; the others are timed.
    double timed_s = 0;
    int64_t timed_images = 0;
    for (int64_t epoch = 0; epoch <= a.epochs; ++epoch) {
      const auto start = std::chrono::steady_clock::now();
      for (int64_t it = 0; it < sampler.iterations_per_epoch(); ++it) {
        sampler.global_batch_indices(epoch, it, indices);
        data::write_batch(source, &pool, data::Transform::train, epoch, indices, images, labels);
      }
      if (epoch == 0) continue;
      timed_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      timed_images += sampler.iterations_per_epoch() * a.batch;
    }
    const double rate = static_cast<double>(timed_images) / timed_s;
    std::printf(
        "{\"reader\": \"%s\", \"threads\": %d, \"images\": %lld, \"dct\": %s, \"img_per_s\": %.1f, "
        "\"img_per_s_per_thread\": %.1f}\n",
        a.reader.c_str(), a.threads, static_cast<long long>(timed_images), a.dct ? "true" : "false", rate,
        rate / a.threads);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "input_bench: error: %s\n", e.what());
    return 1;
  }
}
