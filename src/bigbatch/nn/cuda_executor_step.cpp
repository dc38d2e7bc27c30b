// The GPU executor's device-resident path: whole training steps with params, gradients,
// momentum and BN buffers on the device. Inputs travel through two pinned slots on a copy
// stream (the next batch uploads while the current step runs); gradient buckets are
// allreduced on a comm stream as soon as backward has finished their layers (events), and
// the fused SGD kernel waits for the last one.
#include <algorithm>
#include <cstring>

#include "bigbatch/backend/cuda/check.h"
#include "bigbatch/backend/cuda/eltwise.h"
#include "bigbatch/backend/cuda/loss.h"
#include "bigbatch/core/error.h"
#include "bigbatch/nn/cuda_executor_impl.h"

namespace bigbatch::nn::cuda_plan {

namespace {

size_t u(int64_t v) { return static_cast<size_t>(v); }

// Must match cuda_executor.cpp's scalars_ block.
constexpr size_t kLoss = 0, kCorrect = 8, kNonfinite = 16, kBadLabel = 20, kScalarBytes = 24;

}  // namespace

void CudaExecutorImpl::upload_state() {
  CUDA_CHECK(cudaMemcpyAsync(params_.get(), bindings_.params->data(), params_.bytes(), cudaMemcpyHostToDevice,
                             stream()));
  CUDA_CHECK(cudaMemcpyAsync(buffers_.get(), bindings_.buffers->data(), buffers_.bytes(), cudaMemcpyHostToDevice,
                             stream()));
  CUDA_CHECK(cudaMemsetAsync(momentum_.get(), 0, momentum_.bytes(), stream()));
  CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void CudaExecutorImpl::download_state(const Arena* momentum) {
  CUDA_CHECK(cudaStreamSynchronize(stream()));
  CUDA_CHECK(cudaMemcpy(bindings_.params->data(), params_.get(), params_.bytes(), cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaMemcpy(bindings_.buffers->data(), buffers_.get(), buffers_.bytes(), cudaMemcpyDeviceToHost));
  if (momentum) {
    BIGBATCH_CHECK(momentum->total_elems() * static_cast<int64_t>(sizeof(float)) ==
                       static_cast<int64_t>(momentum_.bytes()),
                   "[cuda_executor] the momentum arena is not laid out by the parameter layout");
    CUDA_CHECK(cudaMemcpy(momentum->data(), momentum_.get(), momentum_.bytes(), cudaMemcpyDeviceToHost));
  }
}

void CudaExecutorImpl::stage_batch(const Tensor& src, const int32_t* labels) {
  check_input(src);
  const int s = 1 - slot_;
  // The pinned slot is free once its previous upload is done; the device slot once the step
  // that read it has consumed it (the copy stream waits for that on the device).
  CUDA_CHECK(cudaEventSynchronize(uploaded_[s].get()));
  std::memcpy(pinned_input_[s].get(), src.raw(), src.nbytes());
  std::memcpy(pinned_labels_[s].get(), labels, u(options_.batch) * sizeof(int32_t));
  cudaStream_t copy = copy_stream_.get();
  CUDA_CHECK(cudaStreamWaitEvent(copy, consumed_[s].get(), 0));
  CUDA_CHECK(cudaMemcpyAsync(input_f32_[s].get(), pinned_input_[s].get(), src.nbytes(), cudaMemcpyHostToDevice, copy));
  CUDA_CHECK(cudaMemcpyAsync(labels_[s].get(), pinned_labels_[s].get(), u(options_.batch) * sizeof(int32_t),
                             cudaMemcpyHostToDevice, copy));
  CUDA_CHECK(cudaEventRecord(uploaded_[s].get(), copy));
  slot_ = s;
  staged_ = true;
  ever_staged_ = true;
}

void CudaExecutorImpl::reuse_batch() {
  BIGBATCH_CHECK(ever_staged_, "[cuda_executor] reuse_batch needs a stage_batch first");
  staged_ = true;
}

void CudaExecutorImpl::set_device_allreduce(DeviceAllreduce reduce, std::vector<ArenaRange> buckets) {
  int64_t expected_end = graph_.parameter_layout()->total_elems();
  for (const ArenaRange& b : buckets) {
    BIGBATCH_CHECK(b.end == expected_end && b.begin < b.end && b.owner > 0 && b.owner < graph_.size(),
                   "[cuda_executor] expected buckets tiling the gradient arena from its end, got [" << b.begin << ", "
                                                                                                     << b.end << ")");
    expected_end = b.begin;
  }
  BIGBATCH_CHECK(expected_end == 0, "[cuda_executor] the buckets leave gradient elements [0, " << expected_end << ")");
  reduce_ = std::move(reduce);
  buckets_ = std::move(buckets);
}

void CudaExecutorImpl::train_step(double divisor, double lr, const DeviceSgd& sgd) {
  BIGBATCH_CHECK(staged_, "[cuda_executor] train_step needs a stage_batch first");
  BIGBATCH_CHECK(divisor > 0.0, "[cuda_executor] the loss divisor must be positive, got " << divisor);
  const ArenaLayout& layout = *graph_.parameter_layout();
  BIGBATCH_CHECK(static_cast<int>(sgd.weight_decay.size()) == layout.size(),
                 "[cuda_executor] expected " << layout.size() << " weight decays, got " << sgd.weight_decay.size());
  staged_ = false;
  if (num_segments_ == 0) {
    // Runs of entries sharing a weight decay, as optim::Sgd merges them (planned once).
    std::vector<backend::cuda::SgdSegment> segs;
    for (int i = 0; i < layout.size(); ++i) {
      const int64_t begin = i == 0 ? 0 : layout.entry(i).offset;
      const int64_t end = i + 1 < layout.size() ? layout.entry(i + 1).offset : layout.total_elems();
      const float decay = sgd.weight_decay[u(i)];
      if (!segs.empty() && segs.back().weight_decay == decay)
        segs.back().end = end;
      else
        segs.push_back({begin, end, decay});
    }
    segments_ = backend::cuda::DeviceBuffer(segs.size() * sizeof(backend::cuda::SgdSegment));
    CUDA_CHECK(cudaMemcpy(segments_.get(), segs.data(), segments_.bytes(), cudaMemcpyHostToDevice));
    num_segments_ = static_cast<int>(segs.size());
  }

  const int s = slot_;
  const int64_t classes = graph_.num_classes();
  char* scalars = scalars_.as<char>();
  CUDA_CHECK(cudaStreamWaitEvent(stream(), uploaded_[s].get(), 0));
  CUDA_CHECK(cudaMemsetAsync(scalars, 0, kScalarBytes, stream()));
  pack_params();
  run_forward(input_f32_[s].as<float>(), /*training=*/true);
  backend::cuda::softmax_cross_entropy(options_.batch, classes, logits_f32_.as<float>(), labels_[s].as<int32_t>(),
                                       divisor, loss_scale_, reinterpret_cast<double*>(scalars + kLoss),
                                       diff_logits_f32_.as<float>(), reinterpret_cast<int*>(scalars + kBadLabel),
                                       stream());
  backend::cuda::topk_correct(options_.batch, classes, logits_f32_.as<float>(), labels_[s].as<int32_t>(), 1,
                              reinterpret_cast<unsigned long long*>(scalars + kCorrect), stream());
  CUDA_CHECK(cudaEventRecord(consumed_[s].get(), stream()));
  const int out = graph_.output();
  backend::cuda::convert_from_f32(dtype_, plan(out).dims.numel(), diff_logits_f32_.as<float>(), diff(out), 1.0f,
                                  stream());

  cudaStream_t comm = comm_stream_.get();
  size_t next_bucket = 0;
  run_backward([&](int id) {
    if (!reduce_ || next_bucket >= buckets_.size() || buckets_[next_bucket].owner != id) return;
    const ArenaRange& b = buckets_[next_bucket++];
    CUDA_CHECK(cudaEventRecord(node_events_[u(id)].get(), stream()));
    CUDA_CHECK(cudaStreamWaitEvent(comm, node_events_[u(id)].get(), 0));
    reduce_(grads_.as<float>() + b.begin, b.end - b.begin, comm);
  });
  if (reduce_) {
    CUDA_CHECK(cudaEventRecord(comm_done_.get(), comm));
    CUDA_CHECK(cudaStreamWaitEvent(stream(), comm_done_.get(), 0));
  }
  int* nonfinite = reinterpret_cast<int*>(scalars + kNonfinite);
  if (dtype_ == DType::f16) {
    // After the allreduce an overflow on any rank is Inf/NaN on every rank: all skip alike.
    backend::cuda::convert_to_f32(DType::f32, layout.total_elems(), grads_.as<float>(), grads_.as<float>(), 1.0f,
                                  nonfinite, stream());
  }
  backend::cuda::sgd_update(params_.as<float>(), grads_.as<float>(), momentum_.as<float>(), layout.total_elems(),
                            segments_.as<backend::cuda::SgdSegment>(), num_segments_,
                            static_cast<float>(sgd.momentum), static_cast<float>(lr), sgd.nesterov,
                            dtype_ == DType::f16 ? nonfinite : nullptr, stream());
  CUDA_CHECK(cudaMemcpyAsync(pinned_scalars_.get(), scalars, kScalarBytes, cudaMemcpyDeviceToHost, stream()));
  CUDA_CHECK(cudaEventRecord(step_done_.get(), stream()));
}

double CudaExecutorImpl::wait_loss(int64_t* correct) {
  CUDA_CHECK(cudaEventSynchronize(step_done_.get()));
  const char* p = pinned_scalars_.as<char>();
  double loss = 0.0;
  unsigned long long right = 0;
  int nonfinite = 0, bad_label = 0;
  std::memcpy(&loss, p + kLoss, sizeof loss);
  std::memcpy(&right, p + kCorrect, sizeof right);
  std::memcpy(&nonfinite, p + kNonfinite, sizeof nonfinite);
  std::memcpy(&bad_label, p + kBadLabel, sizeof bad_label);
  BIGBATCH_CHECK(bad_label == 0, "[cuda_executor] a label is outside [0, " << graph_.num_classes() << ")");
  if (dtype_ == DType::f16) adjust_loss_scale(nonfinite != 0);
  if (correct) *correct = static_cast<int64_t>(right);
  return loss;
}

}  // namespace bigbatch::nn::cuda_plan
