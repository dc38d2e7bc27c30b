// Fuzz target: packed image shards (data/image_shards.h). The input is
// [u32 little-endian length n][n bytes: an index without its trailing CRC-32][the rest: a shard].
// The raw input is first decoded as an index as it stands (magic and checksum checks); then the
// target appends the right CRC-32, so that mutations reach the fields behind the checksum,
// writes the index and, under each shard name it gives, the shard bytes, opens the split
// (data::open_image_shards) and reads its first records.
#include <zlib.h>

#include <algorithm>
#include <set>
#include <vector>

#include "bigbatch/core/error.h"
#include "bigbatch/data/image_shards.h"
#include "fuzz_target.h"

namespace {

constexpr size_t kMaxShardFiles = 8;  // more names than this: the rest are missing files
constexpr int64_t kMaxReads = 16;

std::vector<uint8_t> with_crc(std::span<const uint8_t> body) {
  std::vector<uint8_t> bytes(body.begin(), body.end());
  const auto crc = static_cast<uint32_t>(::crc32(0L, bytes.data(), static_cast<uInt>(bytes.size())));
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<uint8_t>(crc >> (8 * i)));
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace data_ns = bigbatch::data;
  try {
    (void)data_ns::decode_shard_index(std::vector<uint8_t>(data, data + size), "raw.index");
  } catch (const bigbatch::Error&) {
  }

  const auto [body, shard] = bigbatch::fuzz::split_input(data, size);
  const std::vector<uint8_t> index_bytes = with_crc(body);
  data_ns::ShardIndex index;
  try {
    index = data_ns::decode_shard_index(index_bytes, "train.index");
  } catch (const bigbatch::Error&) {
    return 0;
  }
  const std::filesystem::path& dir = bigbatch::fuzz::scratch_dir();
  std::set<std::string> written;
  for (const std::string& name : index.shard_files) {
    if (written.size() == kMaxShardFiles) break;
    if (name.size() > 200 || !written.insert(name).second) continue;  // a too-long name: cannot open
    bigbatch::fuzz::write_scratch(name, shard);
  }
  bigbatch::fuzz::write_scratch("train.index", index_bytes);
  try {
    const auto images = data_ns::open_image_shards(dir.string(), "train");
    std::vector<uint8_t> bytes;
    for (int64_t i = 0; i < std::min(images->size(), kMaxReads); ++i) {
      (void)images->describe(i);
      try {
        images->read(i, bytes);
      } catch (const bigbatch::Error&) {
      }
    }
  } catch (const bigbatch::Error&) {
  }
  std::error_code ec;
  for (const std::string& name : written) std::filesystem::remove(dir / name, ec);
  std::filesystem::remove(dir / "train.index", ec);
  return 0;
}
