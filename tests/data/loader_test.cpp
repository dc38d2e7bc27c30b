// Prefetching loader: the sampler's examples in order, bit-identical to the synchronous
// computation, exact resumption, producer errors rethrown, and clean early shutdown.
#include "bigbatch/data/loader.h"

#include <gtest/gtest.h>

#include <cstring>

#include "bigbatch/core/error.h"
#include "bigbatch/data/example_source.h"
#include "bigbatch/data/synthetic.h"
#include "bigbatch/data/task_pool.h"

namespace bigbatch::data {
namespace {

Dataset dataset() {
  return make_synthetic({.size = 60, .channels = 3, .height = 6, .width = 6, .num_classes = 7, .seed = 4});
}

AugmentOptions augment() { return {AugmentKind::standard, 2, true, 99}; }

LoaderOptions process_options() {
  LoaderOptions o;
  o.start_epoch = 0;
  o.start_iter = 2;
  o.end_epoch = 2;
  o.workers = 4;  // kn = 12: n = 3, this process owns workers 1 and 2
  o.first_worker = 1;
  o.worker_count = 2;
  return o;
}

// A loader over an in-memory source, built the way the trainer builds its own.
Loader source_loader(const ExampleSource& source, TaskPool* pool, const EpochSampler& sampler, const LoaderOptions& o) {
  const ExampleShape shape = source.example_shape();
  const int64_t batch = o.worker_count * (sampler.global_batch() / o.workers);
  return Loader(
      o, sampler.iterations_per_epoch(), Shape{batch, shape.channels, shape.height, shape.width},
      [&source, pool, sampler = EpochSampler(sampler), o](int64_t epoch, int64_t iter, BatchSlot& slot) mutable {
        fill_batch(source, pool, Transform::train, sampler, o, epoch, iter, slot);
      });
}

TEST(Loader, YieldsTheSamplersExamplesLikeTheSynchronousPath) {
  const Dataset d = dataset();
  const DatasetSource source(d, augment());
  const EpochSampler sampler(60, 12, 5, true);
  const LoaderOptions o = process_options();
  Loader loader = source_loader(source, nullptr, sampler, o);
  EXPECT_EQ(loader.iterations_per_epoch(), 5);
  EXPECT_EQ(loader.size(), 8);  // iterations 2..4 of epoch 0, all 5 of epoch 1

  EpochSampler reference = sampler;
  BatchSlot expected{Tensor::zeros(Shape{6, 3, 6, 6}), std::vector<int32_t>(6), std::vector<int64_t>(6)};
  int64_t count = 0;
  for (int64_t position = 2; position < 10; ++position, ++count) {
    const Batch* batch = loader.next();
    ASSERT_NE(batch, nullptr);
    ASSERT_EQ(batch->epoch, position / 5);
    ASSERT_EQ(batch->iter, position % 5);
    std::vector<int64_t> workers(6);
    reference.workers_indices(batch->epoch, batch->iter, 1, 2, 4, workers);
    EXPECT_TRUE(std::equal(workers.begin(), workers.end(), batch->indices.begin()));
    fill_batch(source, nullptr, Transform::train, reference, o, batch->epoch, batch->iter, expected);
    EXPECT_EQ(batch->images.shape(), (Shape{6, 3, 6, 6}));
    EXPECT_EQ(std::memcmp(batch->images.raw(), expected.images.raw(), expected.images.nbytes()), 0);
    for (size_t b = 0; b < 6; ++b) EXPECT_EQ(batch->labels[b], d.labels[static_cast<size_t>(workers[b])]);
  }
  EXPECT_EQ(count, 8);
  EXPECT_EQ(loader.next(), nullptr);
  EXPECT_EQ(loader.next(), nullptr);
}

TEST(Loader, ResumedRunContinuesExactly) {
  const Dataset d = dataset();
  const DatasetSource source(d, augment());
  const EpochSampler sampler(60, 12, 5, true);
  LoaderOptions full = process_options();
  full.start_iter = 0;
  LoaderOptions resumed = full;
  resumed.start_epoch = 1;
  resumed.start_iter = 3;
  Loader a = source_loader(source, nullptr, sampler, full), b = source_loader(source, nullptr, sampler, resumed);
  for (int i = 0; i < 8; ++i) ASSERT_NE(a.next(), nullptr);
  for (int i = 0; i < 2; ++i) {
    const Batch *x = a.next(), *y = b.next();
    ASSERT_TRUE(x != nullptr && y != nullptr);
    EXPECT_EQ(x->iter, y->iter);
    EXPECT_EQ(std::memcmp(x->images.raw(), y->images.raw(), x->images.nbytes()), 0);
  }
  EXPECT_TRUE(a.next() == nullptr && b.next() == nullptr);
}

TEST(Loader, RethrowsProducerErrorsAfterEarlierBatches) {
  LoaderOptions o;
  o.end_epoch = 3;
  Loader loader(o, 4, Shape{2, 1, 1, 1}, [](int64_t epoch, int64_t iter, BatchSlot& slot) {
    if (epoch == 1 && iter == 1) BIGBATCH_THROW(InvalidArgument, "[test] cannot decode example 17");
    slot.images.fill(static_cast<float>(epoch * 4 + iter));
  });
  for (int i = 0; i < 5; ++i) {
    const Batch* batch = loader.next();
    ASSERT_NE(batch, nullptr);
    EXPECT_EQ(batch->images.data<float>()[1], static_cast<float>(i));
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      loader.next();
      ADD_FAILURE() << "expected the producer's error";
    } catch (const InvalidArgument& e) {
      EXPECT_STREQ(e.what(), "[test] cannot decode example 17");
    }
  }
}

TEST(Loader, StopsCleanlyWhileTheProducerWaits) {
  // Destroyed with both buffers full and a producer blocked on a free one: must not hang.
  const Dataset d = dataset();
  const DatasetSource source(d, augment());
  LoaderOptions o;
  o.end_epoch = 100;
  Loader loader = source_loader(source, nullptr, EpochSampler(60, 12, 0, true), o);
  ASSERT_NE(loader.next(), nullptr);
}

TEST(Loader, DeeperQueueOverAPoolYieldsTheSameBatches) {
  // prefetch 3 (a ring of 4 buffers) with each batch fanned out over a pool of 3 threads: the
  // same bytes as the double-buffered loader filling batches in its own thread.
  const Dataset d = dataset();
  const DatasetSource source(d, augment());
  const EpochSampler sampler(60, 12, 5, true);
  const LoaderOptions o = process_options();
  LoaderOptions deep = o;
  deep.prefetch = 3;
  TaskPool pool(3);
  Loader reference = source_loader(source, nullptr, sampler, o);
  Loader loader = source_loader(source, &pool, sampler, deep);
  EXPECT_EQ(loader.size(), reference.size());
  for (int64_t i = 0; i < reference.size(); ++i) {
    const Batch *x = reference.next(), *y = loader.next();
    ASSERT_TRUE(x != nullptr && y != nullptr);
    EXPECT_EQ(y->epoch, x->epoch);
    EXPECT_EQ(y->iter, x->iter);
    EXPECT_GE(loader.last_wait_s(), 0.0);
    EXPECT_EQ(std::memcmp(x->images.raw(), y->images.raw(), x->images.nbytes()), 0);
    EXPECT_TRUE(std::equal(x->labels.begin(), x->labels.end(), y->labels.begin()));
  }
  EXPECT_EQ(loader.next(), nullptr);
}

TEST(Loader, RejectsBadPositionsAndShapesUpFront) {
  const auto nothing = [](int64_t, int64_t, BatchSlot&) {};
  LoaderOptions o;
  o.start_iter = 5;
  EXPECT_THROW(Loader(o, 5, Shape{6, 3, 6, 6}, nothing), InvalidArgument);  // past the epoch
  o.start_iter = 0;
  o.start_epoch = 2;
  o.end_epoch = 1;
  EXPECT_THROW(Loader(o, 5, Shape{6, 3, 6, 6}, nothing), InvalidArgument);  // ends before it starts
  o.start_epoch = 0;
  o.prefetch = 0;
  EXPECT_THROW(Loader(o, 5, Shape{6, 3, 6, 6}, nothing), InvalidArgument);  // no ring
  o.prefetch = 1;
  EXPECT_THROW(Loader(o, 0, Shape{6, 3, 6, 6}, nothing), InvalidArgument);  // empty epochs
  EXPECT_THROW(Loader(o, 5, Shape{6, 108}, nothing), InvalidArgument);      // not NCHW
}

}  // namespace
}  // namespace bigbatch::data
