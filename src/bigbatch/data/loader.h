// The prefetching loader: a background thread fills the next batches (normalised f32 NCHW
// images, int32 labels) into a bounded ring of buffers while the consumer trains on the one it
// holds; a filler may fan each batch out over a pool of threads (write_batch).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "bigbatch/core/shape.h"
#include "bigbatch/core/tensor.h"
#include "bigbatch/data/example_source.h"
#include "bigbatch/data/sampler.h"

namespace bigbatch::data {

struct LoaderOptions {
  // The first iteration produced: (0, 0) for a new run, the saved position for a resumed one.
  int64_t start_epoch = 0, start_iter = 0;
  int64_t end_epoch = 1;  // exclusive: produce every iteration of epochs before end_epoch
  // This process owns workers [first_worker, first_worker + worker_count) of k = workers; its
  // batch is their v·n examples in worker order (v = worker_count, n = kn/k).
  int64_t workers = 1, first_worker = 0, worker_count = 1;
  // Batches made ahead of the one the consumer holds (the bounded queue): 1 is a double buffer.
  int64_t prefetch = 1;
};

// One buffer of the ring; allocated once, refilled in place.
struct BatchSlot {
  Tensor images;                 // [B, C, H, W] f32, B = v·n
  std::vector<int32_t> labels;   // B
  std::vector<int64_t> indices;  // B dataset indices, in batch order
};

// What the consumer gets: views into a slot.
struct Batch {
  int64_t epoch = 0, iter = 0;
  Tensor images;
  std::span<const int32_t> labels;
  std::span<const int64_t> indices;
};

// Fills the slot with the batch of (epoch, iter) without resizing it; may throw.
using BatchFiller = std::function<void(int64_t epoch, int64_t iter, BatchSlot& slot)>;

// The batch of (epoch, iter), computed synchronously: the sampler's indices for the process's
// workers, then write_batch over pool (may be null). The sampler caches the epoch's permutation.
void fill_batch(const ExampleSource& source, TaskPool* pool, Transform transform, EpochSampler& sampler,
                const LoaderOptions& options, int64_t epoch, int64_t iter, BatchSlot& slot);

class Loader {
 public:
  // Batches of images_shape [B, C, H, W] made by fill, for the iterations of
  // options (with iterations_per_epoch per epoch); the other options are fill's business.
  Loader(const LoaderOptions& options, int64_t iterations_per_epoch, const Shape& images_shape, BatchFiller fill);
  // Stops the producer (waking it if it waits for a free buffer) and joins it.
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch in order, or nullptr after the last; the batch stays valid until the next
  // call (which hands its buffer back to the producer). Blocks only while the producer is
  // behind; allocates nothing. An exception thrown by the producer is rethrown here once the
  // batches before it have been consumed, and on every later call.
  const Batch* next();

  int64_t iterations_per_epoch() const { return iterations_per_epoch_; }
  int64_t size() const { return end_ - begin_; }  // number of batches yielded in all
  // Seconds the last next() waited for the producer: the input-bound time of that step.
  double last_wait_s() const { return last_wait_s_; }

 private:
  enum class SlotState { free, ready, held };
  void produce();

  int64_t iterations_per_epoch_, begin_, end_;  // positions epoch·ipe + iter, [begin_, end_)
  BatchFiller fill_;
  std::vector<BatchSlot> slots_;  // prefetch + 1
  std::vector<Batch> batches_;    // views of slots_, built once; epoch and iter set when ready

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<SlotState> state_;
  int next_slot_ = 0;  // slot of the next batch in order (the producer fills them in turn)
  int held_slot_ = -1;
  double last_wait_s_ = 0.0;
  bool stop_ = false, done_ = false;
  std::exception_ptr error_;
  std::thread thread_;  // last: starts after every member above is ready
};

}  // namespace bigbatch::data
