#include "bigbatch/core/threading.h"

#include <omp.h>

#include "bigbatch/core/error.h"

namespace bigbatch {

void set_num_threads(int threads) {
  BIGBATCH_CHECK(threads >= 1, "[threads] expected a thread count >= 1, got " << threads);
  omp_set_num_threads(threads);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace bigbatch
