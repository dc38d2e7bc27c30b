// Device gradients through host arenas to the parameter servers and back.
#include "bigbatch/train/host_staged_exchange.h"

#include <utility>

#include "bigbatch/core/error.h"

namespace bigbatch::train {

namespace {

size_t bucket_bytes(const comm::Bucket& bucket) { return static_cast<size_t>(bucket.elems()) * sizeof(float); }

// The inner exchange's work; waiting on it also enqueues the result's copy to the device,
// which the stream orders before anything computed after the reducer's finish().
class CopyBackWork final : public comm::Work {
 public:
  CopyBackWork(std::unique_ptr<comm::Work> inner, float* device, const float* host, size_t bytes)
      : inner_(std::move(inner)), device_(device), host_(host), bytes_(bytes) {}
  void wait() override {
    inner_->wait();
    if (!copied_) backend::cuda::copy_bytes_async(device_, host_, bytes_);
    copied_ = true;
  }
  bool test() override { return inner_->test(); }
  double busy_seconds() const override { return inner_->busy_seconds(); }

 private:
  std::unique_ptr<comm::Work> inner_;
  float* device_;
  const float* host_;
  size_t bytes_;
  bool copied_ = false;
};

}  // namespace

HostStagedExchange::HostStagedExchange(comm::BucketExchange& inner, const StagedArenas& arenas)
    : inner_(inner), arenas_(arenas) {
  for (const Arena* a : {arenas.device_grads, arenas.host_grads, arenas.host_pulled, arenas.device_pulled})
    BIGBATCH_CHECK(a != nullptr, "[ps] the staged exchange needs all four arenas");
  BIGBATCH_CHECK(arenas.device_grads->device() == Device::cuda && arenas.device_pulled->device() == Device::cuda &&
                     arenas.host_grads->device() == Device::cpu && arenas.host_pulled->device() == Device::cpu,
                 "[ps] the staged exchange copies between device and host arenas");
  const int64_t elems = arenas.device_grads->total_elems();
  for (const Arena* a : {arenas.host_grads, arenas.host_pulled, arenas.device_pulled})
    BIGBATCH_CHECK(a->total_elems() == elems, "[ps] the staged arenas differ in size");
}

std::unique_ptr<comm::Work> HostStagedExchange::start(size_t index, float* grads, const comm::Bucket& bucket,
                                                      std::function<void()> ready) {
  BIGBATCH_CHECK(grads == arenas_.device_grads->data(), "[ps] the staged exchange was given another gradient arena");
  BIGBATCH_CHECK(bucket.begin >= 0 && bucket.begin <= bucket.end && bucket.end <= arenas_.device_grads->total_elems(),
                 "[ps] bucket " << index << " is outside the staged arenas");
  if (index >= copied_.size()) copied_.resize(index + 1);
  if (!copied_[index]) copied_[index] = std::make_unique<backend::cuda::StreamMark>();
  float* host = arenas_.host_grads->data();
  backend::cuda::copy_bytes_async(host + bucket.begin, grads + bucket.begin, bucket_bytes(bucket));
  backend::cuda::StreamMark& copied = *copied_[index];
  copied.record();
  auto wait_for_copy = [&copied, ready = std::move(ready)] {
    if (ready) ready();
    copied.wait();
  };
  return std::make_unique<CopyBackWork>(inner_.start(index, host, bucket, std::move(wait_for_copy)),
                                        arenas_.device_pulled->data() + bucket.begin,
                                        arenas_.host_pulled->data() + bucket.begin, bucket_bytes(bucket));
}

}  // namespace bigbatch::train
