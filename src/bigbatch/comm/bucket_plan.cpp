// Buckets over the flat gradient arena: the grouping rule, then ranges checked to tile the arena.
#include "bigbatch/comm/bucket_plan.h"

#include "bigbatch/core/error.h"

namespace bigbatch::comm {

std::vector<std::vector<int>> group_into_buckets(const std::vector<int64_t>& item_bytes, int64_t cap_bytes) {
  BIGBATCH_CHECK(cap_bytes >= 0, "[buckets] expected a bucket cap >= 0 bytes, got " << cap_bytes);
  std::vector<std::vector<int>> buckets;
  int64_t open_bytes = 0;  // of the last bucket
  for (size_t i = 0; i < item_bytes.size(); ++i) {
    const int64_t bytes = item_bytes[i];
    BIGBATCH_CHECK(bytes >= 0, "[buckets] item " << i << " has " << bytes << " bytes");
    if (buckets.empty() || open_bytes + bytes > cap_bytes || bytes > cap_bytes) {
      buckets.emplace_back();
      open_bytes = 0;
    }
    buckets.back().push_back(static_cast<int>(i));
    open_bytes += bytes;
  }
  return buckets;
}

std::vector<Bucket> plan_buckets(const std::vector<ArenaRange>& ranges, int64_t total_elems, int64_t cap_bytes) {
  std::vector<int64_t> bytes;
  bytes.reserve(ranges.size());
  int64_t expected_end = total_elems;
  for (const ArenaRange& r : ranges) {
    BIGBATCH_CHECK(r.end == expected_end && r.begin <= r.end,
                   "[buckets] the gradient arena is not laid out in node order: node "
                       << r.owner << " holds elements [" << r.begin << ", " << r.end << "), expected a range ending at "
                       << expected_end << " with no other tensor inside");
    expected_end = r.begin;
    bytes.push_back(r.elems() * static_cast<int64_t>(sizeof(float)));
  }
  BIGBATCH_CHECK(expected_end == 0, "[buckets] arena elements [0, " << expected_end << ") belong to no node");
  std::vector<Bucket> buckets;
  for (const std::vector<int>& items : group_into_buckets(bytes, cap_bytes)) {
    Bucket b;
    b.end = ranges[static_cast<size_t>(items.front())].end;
    b.begin = ranges[static_cast<size_t>(items.back())].begin;
    for (int i : items) b.nodes.push_back(ranges[static_cast<size_t>(i)].owner);
    buckets.push_back(std::move(b));
  }
  return buckets;
}

}  // namespace bigbatch::comm
