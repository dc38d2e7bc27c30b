// idx format (LeCun): big-endian u32 magic 0x0000TTDD (TT = 0x08 for ubyte, DD = number of
// dimensions), DD big-endian u32 extents, then the bytes. Files are untrusted input.
#include "bigbatch/data/idx.h"

#include <array>
#include <iomanip>
#include <sstream>

#include "bigbatch/core/error.h"
#include "bigbatch/data/byte_reader.h"

namespace bigbatch::data {

namespace {

constexpr const char* kWhere = "[data:idx]";
constexpr uint32_t kImagesMagic = 0x00000803;  // ubyte, 3 dimensions: N, rows, cols
constexpr uint32_t kLabelsMagic = 0x00000801;  // ubyte, 1 dimension: N
// Far beyond any idx data set; keeps N·rows·cols well inside 64 bits.
constexpr uint32_t kMaxSide = 1 << 14;

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string hex(uint32_t x) {
  std::ostringstream s;
  s << "0x" << std::hex << std::setw(8) << std::setfill('0') << x;
  return s.str();
}

// Reads the magic and `dims` extents; checks the magic.
template <size_t kDims>
std::array<uint32_t, kDims> read_header(ByteReader& file, uint32_t magic, const char* kind) {
  std::array<uint8_t, 4 * (kDims + 1)> bytes{};
  const size_t got = file.read(bytes);
  if (got < 4)
    file.fail("truncated: expected a " + std::to_string(bytes.size()) + "-byte header, found " + std::to_string(got));
  const uint32_t found = big_endian_u32(bytes.data());
  if (found != magic) file.fail("bad magic " + hex(found) + ": expected " + hex(magic) + " (" + kind + ")");
  if (got < bytes.size())
    file.fail("truncated: expected a " + std::to_string(bytes.size()) + "-byte header, found " + std::to_string(got));
  std::array<uint32_t, kDims> dims{};
  for (size_t i = 0; i < kDims; ++i) dims[i] = big_endian_u32(bytes.data() + 4 * (i + 1));
  return dims;
}

std::vector<uint8_t> read_payload(ByteReader& file, uint64_t count, const char* what) {
  std::vector<uint8_t> data = file.read_up_to(count);
  if (data.size() < count)
    file.fail("truncated: expected " + std::to_string(count) + " bytes of " + what + ", found " +
              std::to_string(data.size()));
  file.expect_end(std::to_string(count) + " bytes of " + what);
  return data;
}

}  // namespace

Dataset load_idx(const std::string& images_path, const std::string& labels_path, int64_t num_classes) {
  Dataset d;
  d.name = images_path;
  d.channels = 1;
  d.num_classes = num_classes;
  d.mean = {kFashionMnistMean};
  d.stddev = {kFashionMnistStd};

  uint32_t n_images = 0;
  {
    ByteReader file(images_path, kWhere);
    const auto [n, rows, cols] = read_header<3>(file, kImagesMagic, "idx3 ubyte images");
    if (rows == 0 || cols == 0 || rows > kMaxSide || cols > kMaxSide)
      file.fail("image size " + std::to_string(rows) + "x" + std::to_string(cols) + " outside [1, " +
                std::to_string(kMaxSide) + "]");
    n_images = n;
    d.height = rows;
    d.width = cols;
    d.pixels = read_payload(file, uint64_t{n} * rows * cols, "pixels");
  }

  ByteReader file(labels_path, kWhere);
  const auto [n_labels] = read_header<1>(file, kLabelsMagic, "idx1 ubyte labels");
  // Checked before reading the labels: a mismatch means the files do not belong together.
  if (n_labels != n_images)
    file.fail("count mismatch: " + std::to_string(n_labels) + " labels but " + images_path + " holds " +
              std::to_string(n_images) + " images");
  const std::vector<uint8_t> labels = read_payload(file, n_labels, "labels");
  d.labels.resize(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= num_classes)
      file.fail("label " + std::to_string(labels[i]) + " of example " + std::to_string(i) + " is outside [0, " +
                std::to_string(num_classes) + ")");
    d.labels[i] = labels[i];
  }
  validate(d);
  return d;
}

Dataset load_mnist(const std::string& dir, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  Dataset d =
      load_idx(gz_or_plain(dir, prefix + "-images-idx3-ubyte"), gz_or_plain(dir, prefix + "-labels-idx1-ubyte"), 10);
  d.name = dir + " (" + prefix + ")";
  return d;
}

}  // namespace bigbatch::data
