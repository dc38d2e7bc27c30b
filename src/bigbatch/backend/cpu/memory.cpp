// Memory-descriptor helpers for the oneDNN kernels.
#include "bigbatch/backend/cpu/memory.h"

#include <oneapi/dnnl/dnnl_debug.h>

#include <sstream>

#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/core/error.h"

namespace bigbatch::backend::cpu {

memory::data_type to_dnnl(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return memory::data_type::f32;
    case DType::bf16:
      return memory::data_type::bf16;
    case DType::f16:
      break;
  }
  BIGBATCH_THROW(InvalidArgument, "[cpu] precision " << dtype_name(dtype) << " is not supported; use f32 or bf16");
}

memory::desc plain_md(const memory::dims& dims, memory::data_type dtype) {
  using tag = memory::format_tag;
  static constexpr tag kTags[] = {tag::a, tag::ab, tag::abc, tag::abcd};
  BIGBATCH_CHECK(!dims.empty() && dims.size() <= 4, "[cpu] plain layout of rank " << dims.size());
  return memory::desc(dims, dtype, kTags[dims.size() - 1]);
}

memory::desc nchw_md(const ops::Dims4& d, memory::data_type dtype) {
  return memory::desc({d.n, d.c, d.h, d.w}, dtype, memory::format_tag::nchw);
}

memory::desc any_md(const ops::Dims4& d, memory::data_type dtype) {
  return memory::desc({d.n, d.c, d.h, d.w}, dtype, memory::format_tag::any);
}

bool examples_contiguous(const memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.offset0 != 0) return false;
  const dnnl_blocking_desc_t& b = d.format_desc.blocking;
  for (int i = 0; i < b.inner_nblks; ++i)
    if (b.inner_idxs[i] == 0) return false;
  // N outermost: its stride covers every other dimension's extent (in outer blocks).
  for (int i = 1; i < d.ndims; ++i) {
    int64_t outer = d.padded_dims[i];
    for (int k = 0; k < b.inner_nblks; ++k)
      if (b.inner_idxs[k] == i) outer /= b.inner_blks[k];
    if (b.strides[0] < b.strides[i] * outer) return false;
  }
  return true;
}

size_t batch_stride_bytes(const memory::desc& md) {
  return static_cast<size_t>(md.data.format_desc.blocking.strides[0]) *
         memory::data_type_size(static_cast<memory::data_type>(md.data.data_type));
}

memory::desc with_batch(const memory::desc& md, int64_t batch) {
  BIGBATCH_CHECK(examples_contiguous(md), "[cpu] layout " << describe(md) << " does not keep examples contiguous");
  dnnl_memory_desc_t d = md.data;
  d.dims[0] = batch;
  d.padded_dims[0] = batch;
  return memory::desc(d);
}

memory make_memory(const memory::desc& md, void* handle) {
  memory m;
  BIGBATCH_DNNL("[cpu] memory " + describe(md), m = memory(md, context().engine, handle));
  return m;
}

memory make_memory(const memory::desc& md) {
  memory m;
  BIGBATCH_DNNL("[cpu] memory " + describe(md), m = memory(md, context().engine));
  return m;
}

memory make_scratchpad(size_t bytes) {
  return make_memory(
      memory::desc({static_cast<memory::dim>(bytes > 0 ? bytes : 1)}, memory::data_type::u8, memory::format_tag::a));
}

dnnl::primitive_attr scratchpad_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::primitive_attr relu_post_op_attr() {
  dnnl::primitive_attr attr = scratchpad_attr();
  dnnl::post_ops ops;
  ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  attr.set_post_ops(ops);
  return attr;
}

std::string describe(const memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  std::ostringstream s;
  s << dnnl_dt2str(d.data_type) << ":";
  if (d.format_kind == dnnl_format_kind_any) {
    s << "any";
  } else if (d.format_kind == dnnl_blocked) {
    const dnnl_blocking_desc_t& b = d.format_desc.blocking;
    s << "strides";
    for (int i = 0; i < d.ndims; ++i) s << (i ? "," : "=") << b.strides[i];
    for (int i = 0; i < b.inner_nblks; ++i)
      s << (i ? "" : "/") << b.inner_blks[i] << static_cast<char>('a' + b.inner_idxs[i]);
  } else {
    s << "opaque";
  }
  s << ":";
  for (int i = 0; i < d.ndims; ++i) s << (i ? "x" : "") << d.dims[i];
  return s.str();
}

}  // namespace bigbatch::backend::cpu
