// The one bucket rule, used by the gradient reducer (CPU and GPU) and by `bigbatch simulate`.
#pragma once

#include <cstdint>
#include <vector>

#include "bigbatch/core/arena.h"

namespace bigbatch::comm {

// Walking items (a layer's gradients) in backward order, a bucket takes whole items and closes
// before an item that would take it past cap_bytes; an item larger than the cap has a bucket of
// its own. cap_bytes = 0: one bucket per item (the paper's per-layer allreduce). Returns each
// bucket's item indices, in order. Throws InvalidArgument for a negative cap or item size.
std::vector<std::vector<int>> group_into_buckets(const std::vector<int64_t>& item_bytes, int64_t cap_bytes);

// One allreduce: the contiguous element range [begin, end) of the f32 gradient arena, alignment
// padding included, holding the gradients of `nodes`.
struct Bucket {
  int64_t begin = 0;
  int64_t end = 0;
  std::vector<int> nodes;  // owners in the order backward reports them
  int64_t elems() const { return end - begin; }
};

// The buckets of a gradient arena of total_elems elements, by group_into_buckets. `ranges` are
// the nodes' gradient ranges in backward order (nn::Graph::gradient_ranges): they must tile the
// arena from its end, each ending where the one before began, so that every bucket is one
// contiguous range and the buckets cover [0, total_elems) exactly once, bucket 0 at the end.
// Throws InvalidArgument otherwise (a parameter layout not in node order) or for cap_bytes < 0.
std::vector<Bucket> plan_buckets(const std::vector<ArenaRange>& ranges, int64_t total_elems, int64_t cap_bytes);

}  // namespace bigbatch::comm
