// The parameter server's key sharding: MXNet's rule (a small key whole on (key × 9973) mod S, a
// large one in S contiguous parts), BytePS-style pieces, every element in exactly one part, the
// loads, and a bucket's segments per server.
#include "bigbatch/comm/ps_sharding.h"

#include <gtest/gtest.h>

#include <numeric>

#include "bigbatch/core/error.h"

namespace bigbatch::comm {
namespace {

// Keys laid out as an arena does: 16-element alignment between them.
std::vector<PsKey> keys_of(const std::vector<int64_t>& sizes) {
  std::vector<PsKey> keys;
  int64_t offset = 0;
  for (int64_t n : sizes) {
    keys.push_back({offset, n});
    offset += (n + 15) / 16 * 16;
  }
  return keys;
}

void expect_each_element_once(const std::vector<PsKey>& keys, const std::vector<ShardPart>& parts) {
  int64_t covered = 0;
  for (const ShardPart& p : parts) {
    const PsKey& k = keys[static_cast<size_t>(p.key)];
    EXPECT_GE(p.begin, k.offset);
    EXPECT_LE(p.end, k.offset + k.numel);
    EXPECT_GT(p.end, p.begin);
    covered += p.elems();
  }
  for (size_t i = 1; i < parts.size(); ++i) EXPECT_GE(parts[i].begin, parts[i - 1].end);  // in order, disjoint
  int64_t total = 0;
  for (const PsKey& k : keys) total += k.numel;
  EXPECT_EQ(covered, total);
}

TEST(PsSharding, SmallKeysWholeOnAHashedServerLargeOnesSplit) {
  const std::vector<PsKey> keys = keys_of({100, 2'359'296, 64, 999'999, 1'000'000});
  const std::vector<ShardPart> parts = shard_keys(keys, {4, 1'000'000, 0});
  expect_each_element_once(keys, parts);
  std::vector<int> parts_of_key(keys.size(), 0);
  for (const ShardPart& p : parts) ++parts_of_key[static_cast<size_t>(p.key)];
  EXPECT_EQ(parts_of_key, (std::vector<int>{1, 4, 1, 1, 4}));  // at the bound: split
  EXPECT_EQ(parts[0].server, 0);                               // key 0: 0 x 9973 mod 4
  EXPECT_EQ(parts[5].server, (2 * 9973) % 4);                  // key 2
  EXPECT_EQ(parts[6].server, (3 * 9973) % 4);                  // key 3
  for (int s = 0; s < 4; ++s) {
    EXPECT_EQ(parts[1 + s].server, s);  // key 1's parts: contiguous, part s on server s
    EXPECT_EQ(parts[1 + s].elems(), 2'359'296 / 4);
  }
}

TEST(PsSharding, PiecesAreDealtInTurn) {
  const std::vector<PsKey> keys = keys_of({10'000, 50, 3'000});
  const std::vector<ShardPart> parts = shard_keys(keys, {3, 1'000'000, 16'384});  // 4096 floats
  expect_each_element_once(keys, parts);
  ASSERT_EQ(parts.size(), 3u + 1u + 1u);
  for (size_t i = 0; i < parts.size(); ++i) EXPECT_EQ(parts[i].server, static_cast<int>(i % 3));
  EXPECT_EQ(parts[2].elems(), 10'000 - 2 * 4096);
  const std::vector<int64_t> loads = server_loads(parts, 3);
  EXPECT_EQ(std::accumulate(loads.begin(), loads.end(), int64_t{0}), 13'050 * 4);
  EXPECT_NEAR(load_imbalance(loads), static_cast<double>(4096 + 3000) * 3 / 13'050, 1e-12);  // server 1
}

TEST(PsSharding, OneServerHoldsEverything) {
  const std::vector<PsKey> keys = keys_of({5'000'000, 7});
  const std::vector<ShardPart> parts = shard_keys(keys, {1, 1'000'000, 0});
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(load_imbalance(server_loads(parts, 1)), 1.0);
  EXPECT_EQ(describe_loads({4'000'000, 2'000'000}), "4.00 MB, 2.00 MB (the busiest 1.33x the mean)");
}

TEST(PsSharding, BucketSegmentsCutPartsAtBucketEdges) {
  const std::vector<PsKey> keys = keys_of({40, 40, 3'000'000});  // offsets 0, 48, 96
  const std::vector<ShardPart> parts = shard_keys(keys, {2, 1'000'000, 0});
  // Buckets as the reducer makes them: bucket 0 at the arena's end, tiling it.
  const std::vector<Bucket> buckets = {{60, 96 + 3'000'000, {2, 1}}, {0, 60, {0}}};
  const auto segs = bucket_segments(parts, buckets, 2);
  ASSERT_EQ(segs.size(), 2u);
  int64_t total = 0;
  for (const auto& by_server : segs)
    for (const auto& list : by_server)
      for (const Segment& s : list) {
        EXPECT_GT(s.end, s.begin);
        total += s.elems();
      }
  EXPECT_EQ(total, 3'000'080);
  // Key 1 (48..88) straddles the buckets' edge at 60: 12 elements in bucket 1, 28 in bucket 0.
  const int server1 = (1 * 9973) % 2;
  bool found = false;
  for (const Segment& s : segs[1][static_cast<size_t>(server1)]) found = found || (s.begin == 48 && s.end == 60);
  EXPECT_TRUE(found);
}

TEST(PsSharding, BadOptionsAreNamed) {
  const std::vector<PsKey> keys = keys_of({10});
  EXPECT_THROW(shard_keys(keys, {0, 1'000'000, 0}), InvalidArgument);
  EXPECT_THROW(shard_keys(keys, {1, 0, 0}), InvalidArgument);
  EXPECT_THROW(shard_keys(keys, {1, 1'000'000, -1}), InvalidArgument);
  EXPECT_THROW(shard_keys({{0, 10}, {5, 10}}, {1, 1'000'000, 0}), InvalidArgument);  // overlapping
}

}  // namespace
}  // namespace bigbatch::comm
