// The shard index: a length-checked little-endian encoding with a trailing CRC-32, so that a
// truncated or damaged index is reported as such before any record is trusted.
#include <zlib.h>

#include <cstring>
#include <filesystem>

#include "bigbatch/core/error.h"
#include "bigbatch/core/printable.h"
#include "bigbatch/data/image_shards.h"

namespace bigbatch::data {

namespace {

constexpr char kIndexMagic[8] = {'B', 'B', 'S', 'H', 'I', 'D', 'X', '1'};
constexpr uint64_t kMinRecordBytes = 4 + 8 + 4 + 4 + 4 + 4;

class Writer {
 public:
  void bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  template <class T>
  void integer(T v) {
    for (size_t i = 0; i < sizeof(T); ++i) out_.push_back(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i)));
  }
  void string(const std::string& s) {
    integer(static_cast<uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  std::vector<uint8_t>& out() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

class Reader {
 public:
  Reader(const std::vector<uint8_t>& in, size_t end, const std::string& path) : in_(in), end_(end), path_(path) {}
  template <class T>
  T integer() {
    need(sizeof(T));
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<uint64_t>(in_[pos_ + i]) << (8 * i);
    pos_ += sizeof(T);
    return static_cast<T>(v);
  }
  std::string string() {
    const auto n = integer<uint32_t>();
    need(n);
    std::string s(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  void need(uint64_t n) const {
    BIGBATCH_CHECK(n <= end_ - pos_, kImageShardsWhere << " " << path_ << ": truncated index (needs " << n
                                                       << " more bytes at offset " << pos_ << " of " << end_ << ")");
  }
  size_t left() const { return end_ - pos_; }
  size_t pos() const { return pos_; }

 private:
  const std::vector<uint8_t>& in_;
  size_t end_, pos_ = 0;
  const std::string& path_;
};

}  // namespace

std::vector<uint8_t> encode_shard_index(const ShardIndex& index) {
  Writer w;
  w.bytes(kIndexMagic, sizeof kIndexMagic);
  w.integer(static_cast<uint32_t>(index.class_names.size()));
  for (const std::string& name : index.class_names) w.string(name);
  w.integer(static_cast<uint32_t>(index.shard_files.size()));
  for (const std::string& name : index.shard_files) w.string(name);
  w.integer(static_cast<uint64_t>(index.records.size()));
  for (const ShardRecord& r : index.records) {
    w.integer(r.shard);
    w.integer(r.offset);
    w.integer(r.length);
    w.integer(r.label);
    w.integer(r.crc32);
    w.string(r.path);
  }
  const auto crc = static_cast<uint32_t>(::crc32(0L, w.out().data(), static_cast<uInt>(w.out().size())));
  w.integer(crc);
  return std::move(w.out());
}

ShardIndex decode_shard_index(const std::vector<uint8_t>& bytes, const std::string& path) {
  BIGBATCH_CHECK(bytes.size() >= sizeof kIndexMagic && std::memcmp(bytes.data(), kIndexMagic, sizeof kIndexMagic) == 0,
                 kImageShardsWhere << " " << path << ": not a bigbatch shard index (written by `bigbatch pack`)");
  BIGBATCH_CHECK(bytes.size() >= sizeof kIndexMagic + 4, kImageShardsWhere << " " << path << ": truncated index");
  const size_t body = bytes.size() - 4;
  uint32_t stored = 0;
  for (size_t i = 0; i < 4; ++i) stored |= static_cast<uint32_t>(bytes[body + i]) << (8 * i);
  const auto actual = static_cast<uint32_t>(::crc32(0L, bytes.data(), static_cast<uInt>(body)));
  BIGBATCH_CHECK(stored == actual,
                 kImageShardsWhere << " " << path << ": index checksum mismatch (truncated or damaged; pack again)");
  Reader r(bytes, body, path);
  r.need(sizeof kIndexMagic);
  for (size_t i = 0; i < sizeof kIndexMagic; ++i) r.integer<uint8_t>();
  ShardIndex index;
  const auto classes = r.integer<uint32_t>();
  r.need(uint64_t{classes} * 4);
  for (uint32_t i = 0; i < classes; ++i) index.class_names.push_back(r.string());
  const auto shards = r.integer<uint32_t>();
  r.need(uint64_t{shards} * 4);
  for (uint32_t i = 0; i < shards; ++i) {
    index.shard_files.push_back(r.string());
    const std::string& name = index.shard_files.back();
    // No NUL either: open() would stop at it and read another file than the one named.
    BIGBATCH_CHECK(!name.empty() && name.find_first_of(std::string("/\0", 2)) == std::string::npos && name != "." &&
                       name != "..",
                   kImageShardsWhere << " " << path << ": bad shard file name '" << printable(name) << "'");
  }
  const auto records = r.integer<uint64_t>();
  // Checked before reserving, so a damaged count cannot make us allocate what is not there.
  BIGBATCH_CHECK(records <= r.left() / kMinRecordBytes,
                 kImageShardsWhere << " " << path << ": truncated index (" << records << " records announced)");
  index.records.reserve(records);
  for (uint64_t i = 0; i < records; ++i) {
    ShardRecord rec;
    rec.shard = r.integer<uint32_t>();
    rec.offset = r.integer<uint64_t>();
    rec.length = r.integer<uint32_t>();
    rec.label = r.integer<int32_t>();
    rec.crc32 = r.integer<uint32_t>();
    rec.path = r.string();
    BIGBATCH_CHECK(rec.shard < shards && rec.label >= 0 && static_cast<uint64_t>(rec.label) < classes,
                   kImageShardsWhere << " " << path << ": record " << i << " names shard " << rec.shard << " of "
                                     << shards << " and label " << rec.label << " of " << classes);
    index.records.push_back(std::move(rec));
  }
  BIGBATCH_CHECK(r.left() == 0,
                 kImageShardsWhere << " " << path << ": " << r.left() << " unexpected bytes after the records");
  return index;
}

std::string shard_index_path(const std::string& dir, const std::string& split) {
  return (std::filesystem::path(dir) / (split + ".index")).string();
}

bool has_image_shards(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::is_regular_file(shard_index_path(dir, "train"), ec);
}

}  // namespace bigbatch::data
