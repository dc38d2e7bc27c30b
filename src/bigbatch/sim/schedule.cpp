// Buckets in backward order and the one-channel allreduce timeline of an iteration.
#include "bigbatch/sim/schedule.h"

#include <algorithm>
#include <cmath>

#include "bigbatch/comm/bucket_plan.h"
#include "bigbatch/core/error.h"

namespace bigbatch::sim {

std::vector<Bucket> plan_buckets(const std::vector<LayerGrad>& layers, int64_t cap_bytes) {
  std::vector<int64_t> bytes;
  for (const LayerGrad& layer : layers) {
    BIGBATCH_CHECK(layer.bytes >= 0, "[sim] layer '" << layer.name << "' has " << layer.bytes << " bytes");
    BIGBATCH_CHECK(std::isfinite(layer.ready_s) && layer.ready_s >= 0,
                   "[sim] layer '" << layer.name << "' is ready at " << layer.ready_s << " s");
    bytes.push_back(layer.bytes);
  }
  BIGBATCH_CHECK(cap_bytes >= 0, "[sim] expected a bucket cap >= 0 bytes, got " << cap_bytes);
  std::vector<Bucket> buckets;
  for (std::vector<int>& items : comm::group_into_buckets(bytes, cap_bytes)) {
    Bucket b;
    for (int i : items) {
      b.bytes += layers[static_cast<size_t>(i)].bytes;
      b.ready_s = std::max(b.ready_s, layers[static_cast<size_t>(i)].ready_s);
    }
    b.layers = std::move(items);
    buckets.push_back(std::move(b));
  }
  return buckets;
}

StepTime simulate_step(const std::vector<Bucket>& buckets, const std::vector<double>& bucket_seconds,
                       const StepInputs& in) {
  BIGBATCH_CHECK(buckets.size() == bucket_seconds.size(),
                 "[sim] " << buckets.size() << " buckets but " << bucket_seconds.size() << " allreduce times");
  BIGBATCH_CHECK(in.forward_s >= 0 && in.backward_s >= 0 && in.optimizer_s >= 0,
                 "[sim] expected forward, backward and optimizer times >= 0");
  StepTime t;
  double channel_free = 0.0;  // the communication channel: one allreduce at a time, in order
  for (size_t b = 0; b < buckets.size(); ++b) {
    BIGBATCH_CHECK(buckets[b].ready_s <= in.backward_s * (1 + 1e-12),
                   "[sim] bucket " << b << " is ready at " << buckets[b].ready_s * 1e3 << " ms, after backward ends ("
                                   << in.backward_s * 1e3 << " ms)");
    BIGBATCH_CHECK(std::isfinite(bucket_seconds[b]) && bucket_seconds[b] >= 0,
                   "[sim] bucket " << b << " has an allreduce time of " << bucket_seconds[b] << " s");
    const double ready = in.overlap ? buckets[b].ready_s : in.backward_s;
    const double start = std::max(ready, channel_free);
    channel_free = start + bucket_seconds[b];
    t.start_s.push_back(start);
    t.end_s.push_back(channel_free);
    t.comm_s += bucket_seconds[b];
  }
  t.exposed_s = std::max(0.0, channel_free - in.backward_s);
  t.iteration_s = in.forward_s + in.backward_s + t.exposed_s + in.optimizer_s;
  return t;
}

}  // namespace bigbatch::sim
