// Names and sizes of the element types an allreduce sums; the host communicators' answer to a
// stream-ordered allreduce.
#include "bigbatch/comm/communicator.h"

#include "bigbatch/core/error.h"

namespace bigbatch::comm {

const char* reduce_type_name(ReduceType type) {
  switch (type) {
    case ReduceType::f32:
      return "f32";
    case ReduceType::f64:
      return "f64";
    case ReduceType::i64:
      return "i64";
  }
  return "?";
}

size_t reduce_type_size(ReduceType type) {
  switch (type) {
    case ReduceType::f32:
      return sizeof(float);
    case ReduceType::f64:
      return sizeof(double);
    case ReduceType::i64:
      return sizeof(int64_t);
  }
  return 0;
}

std::unique_ptr<Work> Communicator::allreduce_sum_on_stream(float*, int64_t, void*) {
  BIGBATCH_THROW(CommError, "[rank " << rank()
                                     << "] this communicator reduces host memory only; GPU gradients "
                                        "need NCCL (a build with NCCL, one rank per GPU)");
}

}  // namespace bigbatch::comm
