// Keys and their servers, as MXNet's KVStore shards them: every parameter tensor is a key; a key
// of fewer than bigarray_bound elements lives whole on one server, (key × 9973) mod S as
// kvstore_dist does, and a larger one is split into S contiguous parts, part s on server s.
// Or BytePS-style fixed partitions: every tensor cut into pieces of at most partition_bytes,
// the pieces dealt to the servers in turn.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bigbatch/comm/bucket_plan.h"

namespace bigbatch::comm {

struct ShardOptions {
  int servers = 1;
  int64_t bigarray_bound = 1000000;  // MXNET_KVSTORE_BIGARRAY_BOUND's default
  int64_t partition_bytes = 0;       // > 0: BytePS-style pieces instead of MXNet's rule
};

// A key: a tensor's elements [offset, offset + numel) of the f32 arena (padding excluded).
struct PsKey {
  int64_t offset = 0;
  int64_t numel = 0;
};

// A contiguous run of one key's elements that one server holds.
struct ShardPart {
  int key = 0;
  int server = 0;
  int64_t begin = 0, end = 0;  // arena elements
  int64_t elems() const { return end - begin; }
};

// Every element of every key in exactly one part, in key order. Throws InvalidArgument for
// servers < 1, a bound < 1, partition_bytes < 0, or overlapping keys.
std::vector<ShardPart> shard_keys(const std::vector<PsKey>& keys, const ShardOptions& options);

// Bytes each server holds (f32).
std::vector<int64_t> server_loads(const std::vector<ShardPart>& parts, int servers);
// The busiest server's load over the mean load (1: even); 1 for an empty model.
double load_imbalance(const std::vector<int64_t>& loads);
// "1.2 MB, 0.9 MB (the busiest 1.14x the mean)", for the start-up line.
std::string describe_loads(const std::vector<int64_t>& loads);

// What one bucket exchanges with one server: the pieces of its parts inside the bucket's range,
// in arena order; a worker packs them in this order and the server unpacks them so.
struct Segment {
  int64_t begin = 0, end = 0;
  int64_t elems() const { return end - begin; }
};
// segments[bucket][server].
std::vector<std::vector<std::vector<Segment>>> bucket_segments(const std::vector<ShardPart>& parts,
                                                               const std::vector<Bucket>& buckets, int servers);

}  // namespace bigbatch::comm
