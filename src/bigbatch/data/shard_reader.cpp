// Reading packed shards: every shard stays open, and an image is one pread of its record
// (header and bytes), checked against the index: magic, length and CRC-32.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "bigbatch/core/error.h"
#include "bigbatch/data/image_folder.h"
#include "bigbatch/data/image_shards.h"

namespace bigbatch::data {

namespace {

std::vector<int32_t> labels_of(const ShardIndex& index) {
  std::vector<int32_t> labels;
  labels.reserve(index.records.size());
  for (const ShardRecord& r : index.records) labels.push_back(r.label);
  return labels;
}

class ShardImages final : public EncodedImages {
 public:
  ShardImages(const std::string& dir, const std::string& index_path, ShardIndex index)
      : EncodedImages(kImageShardsWhere, index_path, index.class_names, labels_of(index)), index_(std::move(index)) {
    for (const std::string& name : index_.shard_files) {
      paths_.push_back((std::filesystem::path(dir) / name).string());
      const int fd = ::open(paths_.back().c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        const int err = errno;
        close_all();
        BIGBATCH_THROW(InvalidArgument,
                       kImageShardsWhere << " " << paths_.back() << ": cannot open shard: " << std::strerror(err));
      }
      fds_.push_back(fd);
      struct stat st;
      sizes_.push_back(::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0);
    }
  }
  ~ShardImages() override { close_all(); }

  void read(int64_t i, std::vector<uint8_t>& out) const override {
    const ShardRecord& r = index_.records[static_cast<size_t>(i)];
    // Checked before allocating: a damaged index (its CRC is only as good as its writer) must
    // not make us allocate the up to 4 GiB a length field can claim.
    const uint64_t shard_size = sizes_[r.shard];
    BIGBATCH_CHECK(r.offset <= shard_size && kShardRecordHeader + uint64_t{r.length} <= shard_size - r.offset,
                   kImageShardsWhere << " " << describe(i) << ": truncated shard (the record of " << r.length
                                     << " bytes at offset " << r.offset << " ends past the file's " << shard_size
                                     << " bytes)");
    const size_t total = static_cast<size_t>(kShardRecordHeader) + r.length;
    out.resize(total);
    size_t done = 0;
    while (done < total) {
      const ssize_t n = ::pread(fds_[r.shard], out.data() + done, total - done, static_cast<off_t>(r.offset + done));
      if (n < 0 && errno == EINTR) continue;
      BIGBATCH_CHECK(n > 0, kImageShardsWhere
                                << " " << describe(i) << ": "
                                << (n < 0 ? std::string("cannot read: ") + std::strerror(errno)
                                          : std::string("truncated shard (the record ends past the file)")));
      done += static_cast<size_t>(n);
    }
    uint32_t magic = 0, length = 0;
    for (int b = 0; b < 4; ++b) {
      magic |= static_cast<uint32_t>(out[static_cast<size_t>(b)]) << (8 * b);
      length |= static_cast<uint32_t>(out[static_cast<size_t>(4 + b)]) << (8 * b);
    }
    BIGBATCH_CHECK(magic == kShardRecordMagic && length == r.length,
                   kImageShardsWhere << " " << describe(i) << ": no record at offset " << r.offset
                                     << " (the shard does not match its index)");
    // A memmove of one image: small next to decoding it, and the callers see plain JPEG bytes.
    out.erase(out.begin(), out.begin() + kShardRecordHeader);
    const auto crc = static_cast<uint32_t>(::crc32(0L, out.data(), static_cast<uInt>(out.size())));
    BIGBATCH_CHECK(crc == r.crc32, kImageShardsWhere << " " << describe(i) << ": checksum mismatch (CRC-32 " << crc
                                                     << ", the index says " << r.crc32 << ")");
  }

  std::string describe(int64_t i) const override {
    const ShardRecord& r = index_.records[static_cast<size_t>(i)];
    return paths_[r.shard] + " record " + std::to_string(i) + " (" + r.path + ")";
  }

 private:
  void close_all() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
  }

  ShardIndex index_;
  std::vector<std::string> paths_;
  std::vector<int> fds_;
  std::vector<uint64_t> sizes_;  // of each shard file when it was opened
};

}  // namespace

std::unique_ptr<EncodedImages> open_image_shards(const std::string& dir, const std::string& split) {
  const std::string path = shard_index_path(dir, split);
  std::error_code ec;
  BIGBATCH_CHECK(std::filesystem::is_regular_file(path, ec),
                 kImageShardsWhere << " " << path << ": index missing (make one with `bigbatch pack`)");
  std::vector<uint8_t> bytes;
  read_whole_file(path, kImageShardsWhere, bytes);
  ShardIndex index = decode_shard_index(bytes, path);
  BIGBATCH_CHECK(!index.records.empty(), kImageShardsWhere << " " << path << ": no records");
  return std::make_unique<ShardImages>(dir, path, std::move(index));
}

}  // namespace bigbatch::data
