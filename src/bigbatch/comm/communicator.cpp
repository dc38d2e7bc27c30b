// Names and sizes of the element types an allreduce sums.
#include "bigbatch/comm/communicator.h"

namespace bigbatch::comm {

const char* reduce_type_name(ReduceType type) {
  switch (type) {
    case ReduceType::f32: return "f32";
    case ReduceType::f64: return "f64";
    case ReduceType::i64: return "i64";
  }
  return "?";
}

size_t reduce_type_size(ReduceType type) {
  switch (type) {
    case ReduceType::f32: return sizeof(float);
    case ReduceType::f64: return sizeof(double);
    case ReduceType::i64: return sizeof(int64_t);
  }
  return 0;
}

}  // namespace bigbatch::comm
