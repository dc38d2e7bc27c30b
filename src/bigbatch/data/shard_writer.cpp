// `bigbatch pack`: an ImageFolder tree into shards and an index per split. Images are decoded
// (as training decodes them) as they are packed, so that a bad file is found now, not mid-run.
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "bigbatch/core/atomic_file.h"
#include "bigbatch/core/error.h"
#include "bigbatch/data/image_folder.h"
#include "bigbatch/data/image_shards.h"
#include "bigbatch/data/jpeg_codec.h"

namespace bigbatch::data {

namespace fs = std::filesystem;

namespace {

class ShardWriter {
 public:
  ShardWriter(std::string dir, std::string split, int64_t shard_bytes)
      : dir_(std::move(dir)), split_(std::move(split)), shard_bytes_(shard_bytes) {}

  // Appends one record; returns where it went.
  ShardRecord append(const std::vector<uint8_t>& jpeg) {
    const auto record_bytes = static_cast<int64_t>(kShardRecordHeader) + static_cast<int64_t>(jpeg.size());
    if (!out_.is_open() || (offset_ > 0 && offset_ + record_bytes > shard_bytes_)) open_next();
    uint8_t header[kShardRecordHeader];
    const auto length = static_cast<uint32_t>(jpeg.size());
    for (int b = 0; b < 4; ++b) {
      header[b] = static_cast<uint8_t>(kShardRecordMagic >> (8 * b));
      header[4 + b] = static_cast<uint8_t>(length >> (8 * b));
    }
    out_.write(reinterpret_cast<const char*>(header), sizeof header);
    out_.write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size()));
    BIGBATCH_CHECK(out_.good(), kImageShardsWhere << " " << current_path() << ": write failed");
    ShardRecord r;
    r.shard = static_cast<uint32_t>(files_.size() - 1);
    r.offset = static_cast<uint64_t>(offset_);
    r.length = length;
    r.crc32 = static_cast<uint32_t>(::crc32(0L, jpeg.data(), static_cast<uInt>(jpeg.size())));
    offset_ += record_bytes;
    bytes_ += record_bytes;
    return r;
  }

  void close() {
    if (!out_.is_open()) return;
    out_.close();
    BIGBATCH_CHECK(!out_.fail(), kImageShardsWhere << " " << current_path() << ": write failed");
  }
  const std::vector<std::string>& files() const { return files_; }
  int64_t bytes() const { return bytes_; }

 private:
  void open_next() {
    close();
    char name[64];
    std::snprintf(name, sizeof name, "-%05zu.shard", files_.size());
    files_.push_back(split_ + name);
    out_.open(current_path(), std::ios::binary | std::ios::trunc);
    BIGBATCH_CHECK(out_.is_open(), kImageShardsWhere << " " << current_path() << ": cannot create");
    offset_ = 0;
  }
  std::string current_path() const { return (fs::path(dir_) / files_.back()).string(); }

  std::string dir_, split_;
  int64_t shard_bytes_;
  std::ofstream out_;
  std::vector<std::string> files_;
  int64_t offset_ = 0, bytes_ = 0;
};

void pack_split(const std::string& root, const std::string& split, const std::vector<std::string>& classes,
                const std::string& out_dir, const PackOptions& o, PackSummary& summary) {
  const FolderListing listing = list_image_folder(root, split, classes);
  ShardIndex index;
  index.class_names = classes;
  // An older index would point into the shards about to be overwritten.
  std::error_code ec;
  fs::remove(shard_index_path(out_dir, split), ec);
  ShardWriter writer(out_dir, split, o.shard_bytes);
  JpegDecoder decoder;
  RgbImage image;
  std::vector<uint8_t> bytes;
  const fs::path base = fs::path(root);
  for (size_t i = 0; i < listing.files.size(); ++i) {
    const std::string& file = listing.files[i];
    try {
      read_whole_file(file, kImageFolderWhere, bytes);
      // Decoded whole, through the decoder training uses: an image training would find bad
      // (truncated, short of its header's size, over the budget) is found now, not mid-run.
      const JpegHeader header = decoder.read_header(bytes, kImageFolderWhere, file, o.max_image_pixels);
      decoder.decode(bytes, header, {1, 1}, image, kImageFolderWhere, file);
    } catch (const InvalidArgument& e) {
      if (!o.skip_bad_images) throw;
      if (o.log) o.log(std::string(e.what()) + "; skipped");
      ++summary.skipped;
      continue;
    }
    ShardRecord r = writer.append(bytes);
    r.label = listing.labels[i];
    r.path = fs::path(file).lexically_relative(base).string();
    index.records.push_back(std::move(r));
  }
  writer.close();
  BIGBATCH_CHECK(!index.records.empty(), kImageShardsWhere << " " << root << "/" << split << ": no image to pack");
  index.shard_files = writer.files();
  write_file_atomic(shard_index_path(out_dir, split), encode_shard_index(index), "data:imageshards");
  summary.records += static_cast<int64_t>(index.records.size());
  summary.shards += static_cast<int64_t>(index.shard_files.size());
  summary.bytes += writer.bytes();
  if (o.log)
    o.log("pack: " + split + ": " + std::to_string(index.records.size()) + " images in " +
          std::to_string(index.shard_files.size()) + " shards");
}

}  // namespace

PackSummary pack_image_folder(const std::string& root, const std::string& out_dir, const PackOptions& o) {
  BIGBATCH_CHECK(o.shard_bytes > 0, kImageShardsWhere << " shard size must be positive, got " << o.shard_bytes);
  BIGBATCH_CHECK(o.max_image_pixels > 0,
                 kImageShardsWhere << " the pixel limit must be positive, got " << o.max_image_pixels);
  const std::vector<std::string> classes = list_image_classes(root);
  // Both splits are listed before anything is written: a missing split fails fast.
  list_image_folder(root, "val", classes);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  BIGBATCH_CHECK(!ec, kImageShardsWhere << " " << out_dir << ": cannot create: " << ec.message());
  PackSummary summary;
  for (const char* split : {"train", "val"}) pack_split(root, split, classes, out_dir, o, summary);
  return summary;
}

}  // namespace bigbatch::data
