// Packed shards, like MXNet's RecordIO: the images of a split concatenated into a few large
// files (dir/<split>-00000.shard, ...) that are read with one pread per image, plus an index
// (dir/<split>.index) with the class names and, per record, its shard, offset, length,
// label, CRC-32 (zlib) and original path. Record i is example i of the ImageFolder order,
// so a folder and its shards give the same examples under the same indices.
//
// Index, little-endian: "BBSHIDX1", u32 class count, classes (u32 length + bytes), u32 shard
// count, shard file names (u32 length + bytes), u64 record count, records (u32 shard,
// u64 offset, u32 length, i32 label, u32 crc32, u32 path length + path bytes), then the
// CRC-32 of every byte before it. Shard record: u32 magic 0xced7230a (RecordIO's), u32
// length, the JPEG bytes; the index's offset points at the magic.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bigbatch/data/encoded_images.h"
#include "bigbatch/data/jpeg_codec.h"

namespace bigbatch::data {

constexpr const char* kImageShardsWhere = "[data:imageshards]";
constexpr uint32_t kShardRecordMagic = 0xced7230a;
constexpr int64_t kShardRecordHeader = 8;

struct ShardRecord {
  uint32_t shard = 0;
  uint64_t offset = 0;  // of the record header in the shard file
  uint32_t length = 0;  // of the JPEG bytes
  int32_t label = 0;
  uint32_t crc32 = 0;  // of the JPEG bytes
  std::string path;    // relative to the packed folder, for messages
};

struct ShardIndex {
  std::vector<std::string> class_names;
  std::vector<std::string> shard_files;  // names relative to the index's folder
  std::vector<ShardRecord> records;
};

std::vector<uint8_t> encode_shard_index(const ShardIndex& index);
// Throws InvalidArgument "[data:imageshards] <path>: ..." on a truncated or corrupt index.
ShardIndex decode_shard_index(const std::vector<uint8_t>& bytes, const std::string& path);

std::string shard_index_path(const std::string& dir, const std::string& split);  // dir/<split>.index
bool has_image_shards(const std::string& dir);                                   // dir/train.index exists

// The images of one split, read from the shards; every shard file is opened here.
std::unique_ptr<EncodedImages> open_image_shards(const std::string& dir, const std::string& split);

struct PackOptions {
  int64_t shard_bytes = int64_t{256} << 20;     // a shard is closed once it reaches this size
  bool skip_bad_images = false;                 // skip unreadable JPEGs (one log line each) instead of failing
  int64_t max_image_pixels = kDefaultMaxImagePixels;  // a larger image is bad, as in training
  std::function<void(const std::string&)> log;  // progress and skip lines; null: silent
};

struct PackSummary {
  int64_t records = 0, skipped = 0, shards = 0, bytes = 0;
};

// Packs root/train and root/val (ImageFolder layout) into out_dir. Each image is decoded in
// full by JpegDecoder, as training decodes it: one that training would find bad is an error
// (or skipped, and counted). Shards are written first and each index last (atomically), so an
// interrupted pack leaves no index that points at missing data.
PackSummary pack_image_folder(const std::string& root, const std::string& out_dir, const PackOptions& options);

}  // namespace bigbatch::data
