// NCCL behind the Communicator interface. The unique id travels over the bootstrap
// communicator (MPI in a real job); host-buffer collectives stage through one device buffer
// on the communicator's own stream, device allreduces run on the caller's stream.
#include "bigbatch/comm/nccl_comm.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <algorithm>
#include <string>

#include "bigbatch/core/error.h"

#define NCCL_CHECK(expr)                                                                                              \
  do {                                                                                                                \
    const ncclResult_t nccl_check_result_ = (expr);                                                                   \
    if (nccl_check_result_ != ncclSuccess)                                                                            \
      BIGBATCH_THROW(::bigbatch::CommError, "[nccl] " #expr " failed at " << __FILE__ << ":" << __LINE__ << ": "      \
                                                                          << ncclGetErrorString(nccl_check_result_)); \
  } while (0)

#define NCCL_CUDA_CHECK(expr)                                                                                        \
  do {                                                                                                               \
    const cudaError_t nccl_cuda_status_ = (expr);                                                                    \
    if (nccl_cuda_status_ != cudaSuccess)                                                                            \
      BIGBATCH_THROW(::bigbatch::CommError, "[nccl] " #expr " failed at " << __FILE__ << ":" << __LINE__ << ": "     \
                                                                          << cudaGetErrorString(nccl_cuda_status_)); \
  } while (0)

namespace bigbatch::comm {

bool built_with_nccl() { return true; }

namespace {

ncclDataType_t nccl_type(ReduceType type) {
  switch (type) {
    case ReduceType::f32:
      return ncclFloat32;
    case ReduceType::f64:
      return ncclFloat64;
    case ReduceType::i64:
      return ncclInt64;
  }
  return ncclFloat32;
}

class DoneWork final : public Work {
 public:
  explicit DoneWork(double seconds) : seconds_(seconds) {}
  void wait() override {}
  bool test() override { return true; }
  double busy_seconds() const override { return seconds_; }

 private:
  double seconds_;
};

// A sum on the communicator's stream: wait() makes the caller's stream wait for it.
class StreamWork final : public Work {
 public:
  StreamWork(cudaEvent_t ready, cudaEvent_t done, cudaStream_t caller) : ready_(ready), done_(done), caller_(caller) {}
  ~StreamWork() override {
    (void)cudaEventDestroy(ready_);
    (void)cudaEventDestroy(done_);
  }
  void wait() override { NCCL_CUDA_CHECK(cudaStreamWaitEvent(caller_, done_, 0)); }
  bool test() override { return cudaEventQuery(done_) == cudaSuccess; }
  double busy_seconds() const override { return 0.0; }

 private:
  cudaEvent_t ready_, done_;
  cudaStream_t caller_;
};

class Nccl final : public NcclCommunicator {
 public:
  Nccl(Communicator& bootstrap, int device) : rank_(bootstrap.rank()), size_(bootstrap.size()), device_(device) {
    NCCL_CUDA_CHECK(cudaSetDevice(device));
    ncclUniqueId id{};
    if (rank_ == 0) NCCL_CHECK(ncclGetUniqueId(&id));
    bootstrap.broadcast(&id, sizeof id, 0);
    NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
    NCCL_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }

  ~Nccl() override {
    if (staging_) cudaFree(staging_);
    if (stream_) cudaStreamDestroy(stream_);
    if (comm_) ncclCommDestroy(comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int device() const override { return device_; }

  std::unique_ptr<Work> allreduce_sum_on_stream(float* data, int64_t count, void* stream) override {
    BIGBATCH_CHECK(comm_ != nullptr, "[nccl] [rank " << rank_ << "] the communicator was aborted");
    auto caller = static_cast<cudaStream_t>(stream);
    cudaEvent_t ready = nullptr, done = nullptr;
    NCCL_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    NCCL_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    auto work = std::make_unique<StreamWork>(ready, done, caller);
    // Ours waits for what the caller has enqueued (the gradients), then sums on our stream.
    NCCL_CUDA_CHECK(cudaEventRecord(ready, caller));
    NCCL_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready, 0));
    if (count > 0)
      NCCL_CHECK(ncclAllReduce(data, data, static_cast<size_t>(count), ncclFloat32, ncclSum, comm_, stream_));
    NCCL_CUDA_CHECK(cudaEventRecord(done, stream_));
    return work;
  }

  void broadcast(void* data, int64_t bytes, int root) override {
    void* d = stage(data, static_cast<size_t>(bytes));
    NCCL_CHECK(ncclBroadcast(d, d, static_cast<size_t>(bytes), ncclUint8, root, comm_, stream_));
    unstage(data, static_cast<size_t>(bytes));
  }

  void allgather(const void* send, void* recv, int64_t bytes_per_rank) override {
    const size_t per = static_cast<size_t>(bytes_per_rank), total = per * static_cast<size_t>(size_);
    char* d = static_cast<char*>(stage(nullptr, total));
    NCCL_CUDA_CHECK(cudaMemcpyAsync(d + per * static_cast<size_t>(rank_), send, per, cudaMemcpyHostToDevice, stream_));
    NCCL_CHECK(ncclAllGather(d + per * static_cast<size_t>(rank_), d, per, ncclUint8, comm_, stream_));
    unstage(recv, total);
  }

  void barrier() override {
    int64_t one = 1;
    allreduce_sum(&one, 1);
  }

  void abort(int /*code*/) override {
    // ncclCommAbort releases peers blocked in our collectives; the caller then aborts the
    // bootstrap (MPI_Abort), which ends every process.
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
  }

 protected:
  void allreduce_sum_any(void* data, int64_t count, ReduceType type) override {
    const size_t bytes = static_cast<size_t>(count) * reduce_type_size(type);
    void* d = stage(data, bytes);
    NCCL_CHECK(ncclAllReduce(d, d, static_cast<size_t>(count), nccl_type(type), ncclSum, comm_, stream_));
    unstage(data, bytes);
  }

  std::unique_ptr<Work> allreduce_sum_async_any(void* data, int64_t count, ReduceType type) override {
    allreduce_sum_any(data, count, type);
    return std::make_unique<DoneWork>(0.0);
  }

 private:
  // Copies host bytes (if any) into the staging buffer, growing it when needed.
  void* stage(const void* host, size_t bytes) {
    BIGBATCH_CHECK(comm_ != nullptr, "[nccl] [rank " << rank_ << "] the communicator was aborted");
    NCCL_CUDA_CHECK(cudaSetDevice(device_));
    if (bytes > staging_bytes_) {
      if (staging_) NCCL_CUDA_CHECK(cudaFree(staging_));
      staging_ = nullptr;
      NCCL_CUDA_CHECK(cudaMalloc(&staging_, bytes));
      staging_bytes_ = bytes;
    }
    if (host) NCCL_CUDA_CHECK(cudaMemcpyAsync(staging_, host, bytes, cudaMemcpyHostToDevice, stream_));
    return staging_;
  }

  void unstage(void* host, size_t bytes) {
    NCCL_CUDA_CHECK(cudaMemcpyAsync(host, staging_, bytes, cudaMemcpyDeviceToHost, stream_));
    NCCL_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  int rank_, size_, device_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  void* staging_ = nullptr;
  size_t staging_bytes_ = 0;
};

}  // namespace

std::unique_ptr<NcclCommunicator> make_nccl_communicator(Communicator& bootstrap, int device) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    BIGBATCH_THROW(CommError, "[nccl] [rank " << bootstrap.rank() << "] no CUDA device");
  }
  BIGBATCH_CHECK(device >= 0 && device < count,
                 "[nccl] [rank " << bootstrap.rank() << "] device " << device << " of " << count << " visible");
  return std::make_unique<Nccl>(bootstrap, device);
}

}  // namespace bigbatch::comm
