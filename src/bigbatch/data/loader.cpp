// Prefetching through a ring of prefetch + 1 slots: the producer fills them in turn, the
// consumer takes them in the same order. A slot is free (producer may fill it), ready (filled,
// waiting for the consumer) or held (the consumer is using it until its next call to next()).
#include "bigbatch/data/loader.h"

#include <chrono>
#include <utility>

#include "bigbatch/core/error.h"

namespace bigbatch::data {

namespace {

void check_range(const LoaderOptions& o, int64_t iterations_per_epoch) {
  BIGBATCH_CHECK(iterations_per_epoch >= 1, "[data:loader] " << iterations_per_epoch << " iterations per epoch");
  BIGBATCH_CHECK(o.start_epoch >= 0 && o.start_iter >= 0 && o.start_iter < iterations_per_epoch,
                 "[data:loader] start position epoch " << o.start_epoch << " iteration " << o.start_iter
                                                       << " outside an epoch of " << iterations_per_epoch
                                                       << " iterations");
  BIGBATCH_CHECK(o.prefetch >= 1 && o.prefetch <= 64, "[data:loader] prefetch " << o.prefetch << " outside [1, 64]");
  BIGBATCH_CHECK(o.end_epoch * iterations_per_epoch >= o.start_epoch * iterations_per_epoch + o.start_iter,
                 "[data:loader] end epoch " << o.end_epoch << " comes before the start (epoch " << o.start_epoch
                                            << ", iteration " << o.start_iter << ")");
}

}  // namespace

void fill_batch(const ExampleSource& source, TaskPool* pool, Transform transform, EpochSampler& sampler,
                const LoaderOptions& o, int64_t epoch, int64_t iter, BatchSlot& slot) {
  sampler.workers_indices(epoch, iter, o.first_worker, o.worker_count, o.workers, slot.indices);
  write_batch(source, pool, transform, epoch, slot.indices,
              std::span<float>(slot.images.data<float>(), static_cast<size_t>(slot.images.numel())), slot.labels);
}

Loader::Loader(const LoaderOptions& options, int64_t iterations_per_epoch, const Shape& images_shape, BatchFiller fill)
    : iterations_per_epoch_(iterations_per_epoch),
      begin_((check_range(options, iterations_per_epoch),
              options.start_epoch * iterations_per_epoch + options.start_iter)),
      end_(options.end_epoch * iterations_per_epoch),
      fill_(std::move(fill)) {
  BIGBATCH_CHECK(images_shape.rank() == 4, "[data:loader] images shape " << images_shape.to_string() << " is not NCHW");
  // Every buffer is allocated here, once; the steady state allocates nothing.
  const auto slots = static_cast<size_t>(options.prefetch + 1);
  slots_.resize(slots);
  batches_.resize(slots);
  state_.assign(slots, SlotState::free);
  for (size_t i = 0; i < slots; ++i) {
    BatchSlot& slot = slots_[i];
    slot.images = Tensor::zeros(images_shape, DType::f32);
    slot.labels.assign(static_cast<size_t>(images_shape[0]), 0);
    slot.indices.assign(static_cast<size_t>(images_shape[0]), 0);
    batches_[i] = Batch{0, 0, slot.images, slot.labels, slot.indices};
  }
  thread_ = std::thread([this] { produce(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void Loader::produce() {
  for (int64_t position = begin_; position < end_; ++position) {
    const int slot = static_cast<int>((position - begin_) % static_cast<int64_t>(slots_.size()));
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || state_[static_cast<size_t>(slot)] == SlotState::free; });
      if (stop_) return;
    }
    // Filled outside the lock: the consumer reads only the other slot meanwhile.
    try {
      fill_(position / iterations_per_epoch_, position % iterations_per_epoch_, slots_[static_cast<size_t>(slot)]);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::current_exception();
      done_ = true;
      changed_.notify_all();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      state_[static_cast<size_t>(slot)] = SlotState::ready;
      batches_[static_cast<size_t>(slot)].epoch = position / iterations_per_epoch_;
      batches_[static_cast<size_t>(slot)].iter = position % iterations_per_epoch_;
    }
    changed_.notify_all();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  done_ = true;
  changed_.notify_all();
}

const Batch* Loader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (held_slot_ >= 0) {
    state_[static_cast<size_t>(held_slot_)] = SlotState::free;
    held_slot_ = -1;
    changed_.notify_all();
  }
  const auto slot = static_cast<size_t>(next_slot_);
  const auto wait_start = std::chrono::steady_clock::now();
  changed_.wait(lock, [&] { return done_ || state_[slot] == SlotState::ready; });
  last_wait_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - wait_start).count();
  if (state_[slot] != SlotState::ready) {
    // The producer finished or failed, and every batch it made has been consumed.
    if (error_) std::rethrow_exception(error_);
    return nullptr;
  }
  state_[slot] = SlotState::held;
  held_slot_ = next_slot_;
  next_slot_ = (next_slot_ + 1) % static_cast<int>(slots_.size());
  return &batches_[slot];
}

}  // namespace bigbatch::data
