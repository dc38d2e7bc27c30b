// The number of compute threads used by oneDNN and the reference loops (OpenMP).
#pragma once

namespace bigbatch {

void set_num_threads(int threads);  // threads >= 1; throws InvalidArgument otherwise
int num_threads();

}  // namespace bigbatch
