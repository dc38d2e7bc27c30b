// Stragglers in a synchronous step: every GPU's compute time varies from step to step, and the
// step waits for the slowest of p. With per-GPU times t·(1 + σ·Z), Z independent standard
// normals, the expected step is t·(1 + σ·E[max of p standard normals]).
#pragma once

#include <cstdint>

namespace bigbatch::sim {

// E[max of p independent standard normals] (0 for p = 1, 1/√π for p = 2, about 2.8 at 256), by
// numerical integration of x·p·φ(x)·Φ(x)^(p−1). Throws InvalidArgument for p < 1.
double expected_max_of_normals(int64_t p);

// The expected compute time factor of a step over p GPUs whose relative spread (standard
// deviation over mean of one GPU's compute time) is `spread`: 1 + spread·E[max]. Throws
// InvalidArgument for a negative or non-finite spread.
double straggler_factor(int64_t p, double spread);

}  // namespace bigbatch::sim
