#include "bigbatch/ops/dims.h"

namespace bigbatch::ops {

std::string Dims4::to_string() const {
  return std::to_string(n) + "x" + std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

}  // namespace bigbatch::ops
