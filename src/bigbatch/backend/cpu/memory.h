// Memory-descriptor helpers shared by the oneDNN kernels: dtype mapping, plain layouts,
// a layout's batch-slice (ghost batch norm), and the user-scratchpad attribute.
#pragma once

#include <cstddef>
#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>

#include "bigbatch/core/dtype.h"
#include "bigbatch/ops/dims.h"

namespace bigbatch::backend::cpu {

using dnnl::memory;

// f32 -> f32, bf16 -> bf16; f16 throws InvalidArgument (no f16 path on the CPU).
memory::data_type to_dnnl(DType dtype);

// Dense row-major layout (a, ab, abc, abcd) of any rank 1..4.
memory::desc plain_md(const memory::dims& dims, memory::data_type dtype);
// N×C×H×W in NCHW.
memory::desc nchw_md(const ops::Dims4& dims, memory::data_type dtype);
// N×C×H×W with format_tag::any: the primitive picks (blocked) layouts.
memory::desc any_md(const ops::Dims4& dims, memory::data_type dtype);

// The same layout as md with the batch (dim 0) set to `batch`. Requires a blocked layout
// in which each example is one contiguous slab (no blocking over N; N outermost), so that
// examples [b, b + batch) of md start batch_stride_bytes(md) * b bytes into its buffer.
memory::desc with_batch(const memory::desc& md, int64_t batch);
bool examples_contiguous(const memory::desc& md);
size_t batch_stride_bytes(const memory::desc& md);

// A memory object over handle (not owned) or, with no handle, owning a fresh buffer.
memory make_memory(const memory::desc& md, void* handle);
memory make_memory(const memory::desc& md);
// A byte buffer large enough for every primitive's scratchpad (at least 1 byte).
memory make_scratchpad(size_t bytes);

// Attribute for every primitive: the scratchpad is passed in by the caller, so one buffer
// serves all primitives and a step never allocates.
dnnl::primitive_attr scratchpad_attr();
// Same, with a fused ReLU post-op.
dnnl::primitive_attr relu_post_op_attr();

// "f32:nChw16c:8x16x14x14"-like text for error messages and debug dumps.
std::string describe(const memory::desc& md);

}  // namespace bigbatch::backend::cpu
