// Whether this build and this machine can run the CUDA backend. Free of CUDA headers, so that
// a build without CUDA links device_stub.cpp behind the same declarations (STYLE §1).
#pragma once

namespace bigbatch::backend::cuda {

// False in a build configured with BIGBATCH_CUDA=OFF.
bool built_with_cuda();
// Visible CUDA devices; 0 without CUDA, without a driver or without a device (never throws).
int device_count();
// Throws BackendError "[cuda] bigbatch was built without CUDA" or "[cuda] no CUDA device ..."
// (with the driver's reason) unless device `index` can be used; `where` prefixes the message.
void require_device(const char* where, int index = 0);

}  // namespace bigbatch::backend::cuda
