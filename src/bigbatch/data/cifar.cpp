// CIFAR binary readers. A file must hold a whole number of records, each label in range.
#include "bigbatch/data/cifar.h"

#include <algorithm>
#include <filesystem>

#include "bigbatch/core/error.h"
#include "bigbatch/data/byte_reader.h"

namespace bigbatch::data {

namespace {

constexpr const char* kWhere = "[data:cifar]";
// Larger than any CIFAR file (50000 records = 153 MB); a bigger file is not CIFAR.
constexpr uint64_t kMaxFileBytes = uint64_t{1} << 30;

std::string in_dir(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

}  // namespace

Dataset load_cifar_files(const std::vector<std::string>& paths, int64_t label_bytes, int64_t label_index,
                         int64_t num_classes) {
  BIGBATCH_CHECK(label_bytes >= 1 && label_index >= 0 && label_index < label_bytes,
                 kWhere << " label byte " << label_index << " of " << label_bytes << " per record");
  Dataset d;
  d.name = paths.empty() ? std::string("cifar") : paths.front();
  d.channels = 3;
  d.height = d.width = kCifarSide;
  d.num_classes = num_classes;
  const int64_t record = label_bytes + kCifarImageBytes;
  for (const std::string& path : paths) {
    ByteReader file(path, kWhere);
    const std::vector<uint8_t> bytes = file.read_up_to(kMaxFileBytes);
    file.expect_end("1 GiB, more than any CIFAR file holds");
    const int64_t size = static_cast<int64_t>(bytes.size());
    if (size == 0 || size % record != 0)
      file.fail("truncated: " + std::to_string(size) + " bytes is not a whole number of " + std::to_string(record) +
                "-byte records (" + std::to_string(label_bytes) + " label + " + std::to_string(kCifarImageBytes) +
                " pixel bytes)");
    const int64_t count = size / record;
    const int64_t first = d.size();
    d.labels.resize(static_cast<size_t>(first + count));
    d.pixels.resize(static_cast<size_t>((first + count) * kCifarImageBytes));
    for (int64_t r = 0; r < count; ++r) {
      const uint8_t* rec = bytes.data() + r * record;
      const int label = rec[label_index];
      if (label >= num_classes)
        file.fail("label " + std::to_string(label) + " of record " + std::to_string(r) + " is outside [0, " +
                  std::to_string(num_classes) + ")");
      d.labels[static_cast<size_t>(first + r)] = label;
      std::copy(rec + label_bytes, rec + record, d.pixels.begin() + (first + r) * kCifarImageBytes);
    }
  }
  d.mean = {0.4914f, 0.4822f, 0.4465f};
  d.stddev = {0.2470f, 0.2435f, 0.2616f};
  validate(d);
  return d;
}

Dataset load_cifar10(const std::string& dir, bool train) {
  std::vector<std::string> paths;
  if (train) {
    for (int i = 1; i <= 5; ++i) paths.push_back(in_dir(dir, "data_batch_" + std::to_string(i) + ".bin"));
  } else {
    paths.push_back(in_dir(dir, "test_batch.bin"));
  }
  Dataset d = load_cifar_files(paths, 1, 0, 10);
  d.name = dir + (train ? " (train)" : " (test)");
  return d;
}

Dataset load_cifar100(const std::string& dir, bool train, bool fine_labels) {
  Dataset d =
      load_cifar_files({in_dir(dir, train ? "train.bin" : "test.bin")}, 2, fine_labels ? 1 : 0, fine_labels ? 100 : 20);
  d.name = dir + (train ? " (train)" : " (test)");
  d.mean = {0.5071f, 0.4865f, 0.4409f};
  d.stddev = {0.2673f, 0.2564f, 0.2762f};
  validate(d);
  return d;
}

}  // namespace bigbatch::data
