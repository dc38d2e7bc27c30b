// comm ps on a GPU. The parameter servers exchange host memory (MPI point-to-point), so each
// bucket of the device gradients is staged through page-locked host arenas: as backward
// finishes a bucket, its copy to the host is enqueued on the compute stream (the host does not
// wait); the exchange's communication thread waits for that copy, then pushes; once the pull
// is in, its result is copied back on the stream, into the device gradients (the update on the
// workers) or the device parameters (on the servers). Pushes still overlap backward.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "bigbatch/backend/cuda/arena_ops.h"
#include "bigbatch/comm/gradient_reducer.h"
#include "bigbatch/core/arena.h"

namespace bigbatch::train {

struct StagedArenas {
  const Arena* device_grads = nullptr;   // what the reducer hands over (the step's gradients)
  const Arena* host_grads = nullptr;     // pinned, the same layout: what is pushed
  const Arena* host_pulled = nullptr;    // pinned: where the pull lands (host_grads, or the
                                         // parameters the servers' job was given)
  const Arena* device_pulled = nullptr;  // where that goes on the GPU (device_grads, or params)
};

class HostStagedExchange final : public comm::BucketExchange {
 public:
  // `inner`: the parameter servers' exchange, on host arenas; it must outlive this one. On the
  // thread that computes, with the arenas' GPU current.
  HostStagedExchange(comm::BucketExchange& inner, const StagedArenas& arenas);

  // `grads` must be the device gradients' arena. Enqueues the bucket's copy to the host, then
  // starts the inner exchange on the host copy; waiting on the result enqueues the copy back.
  std::unique_ptr<comm::Work> start(size_t index, float* grads, const comm::Bucket& bucket,
                                    std::function<void()> ready = {}) override;

 private:
  comm::BucketExchange& inner_;
  StagedArenas arenas_;
  std::vector<std::unique_ptr<backend::cuda::StreamMark>> copied_;  // per bucket (made at its first start): on the host
};

}  // namespace bigbatch::train
