// MXNet's key sharding and BytePS's fixed partitions (see the header).
#include "bigbatch/comm/ps_sharding.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "bigbatch/core/error.h"

namespace bigbatch::comm {

std::vector<ShardPart> shard_keys(const std::vector<PsKey>& keys, const ShardOptions& o) {
  BIGBATCH_CHECK(o.servers >= 1, "[ps] expected at least 1 server, got " << o.servers);
  BIGBATCH_CHECK(o.bigarray_bound >= 1, "[ps] ps-bigarray-bound: expected >= 1, got " << o.bigarray_bound);
  BIGBATCH_CHECK(o.partition_bytes >= 0, "[ps] ps-partition-bytes: expected >= 0, got " << o.partition_bytes);
  std::vector<ShardPart> parts;
  const auto s = static_cast<int64_t>(o.servers);
  int64_t dealt = 0;  // BytePS: pieces dealt so far
  int64_t last_end = 0;
  for (size_t k = 0; k < keys.size(); ++k) {
    const PsKey& key = keys[k];
    BIGBATCH_CHECK(key.numel >= 0 && key.offset >= last_end, "[ps] key " << k << " at " << key.offset
                                                                         << " overlaps the one before (ending at "
                                                                         << last_end << ")");
    last_end = key.offset + key.numel;
    const int id = static_cast<int>(k);
    if (key.numel == 0) continue;
    if (o.partition_bytes > 0) {
      const int64_t piece = std::max<int64_t>(1, o.partition_bytes / static_cast<int64_t>(sizeof(float)));
      for (int64_t b = key.offset; b < last_end; b += piece, ++dealt)
        parts.push_back({id, static_cast<int>(dealt % s), b, std::min(last_end, b + piece)});
    } else if (key.numel < o.bigarray_bound || s == 1) {
      parts.push_back({id, static_cast<int>((static_cast<int64_t>(k) * 9973) % s), key.offset, last_end});
    } else {
      for (int64_t p = 0; p < s; ++p) {
        const int64_t b = key.offset + key.numel * p / s, e = key.offset + key.numel * (p + 1) / s;
        if (e > b) parts.push_back({id, static_cast<int>(p), b, e});
      }
    }
  }
  return parts;
}

std::vector<int64_t> server_loads(const std::vector<ShardPart>& parts, int servers) {
  std::vector<int64_t> loads(static_cast<size_t>(servers), 0);
  for (const ShardPart& p : parts)
    loads[static_cast<size_t>(p.server)] += p.elems() * static_cast<int64_t>(sizeof(float));
  return loads;
}

double load_imbalance(const std::vector<int64_t>& loads) {
  const int64_t total = std::accumulate(loads.begin(), loads.end(), int64_t{0});
  if (total == 0 || loads.empty()) return 1.0;
  const double mean = static_cast<double>(total) / static_cast<double>(loads.size());
  return static_cast<double>(*std::max_element(loads.begin(), loads.end())) / mean;
}

std::string describe_loads(const std::vector<int64_t>& loads) {
  std::string text;
  char buf[64];
  for (int64_t bytes : loads) {
    std::snprintf(buf, sizeof buf, "%s%.2f MB", text.empty() ? "" : ", ", static_cast<double>(bytes) / 1e6);
    text += buf;
  }
  std::snprintf(buf, sizeof buf, " (the busiest %.2fx the mean)", load_imbalance(loads));
  return text + buf;
}

std::vector<std::vector<std::vector<Segment>>> bucket_segments(const std::vector<ShardPart>& parts,
                                                               const std::vector<Bucket>& buckets, int servers) {
  std::vector<std::vector<std::vector<Segment>>> out(buckets.size(),
                                                     std::vector<std::vector<Segment>>(static_cast<size_t>(servers)));
  for (size_t b = 0; b < buckets.size(); ++b)
    for (const ShardPart& p : parts) {
      const int64_t begin = std::max(p.begin, buckets[b].begin), end = std::min(p.end, buckets[b].end);
      if (end > begin) out[b][static_cast<size_t>(p.server)].push_back({begin, end});
    }
  for (auto& by_server : out)
    for (auto& segs : by_server)
      std::sort(segs.begin(), segs.end(), [](const Segment& a, const Segment& b) { return a.begin < b.begin; });
  return out;
}

}  // namespace bigbatch::comm
