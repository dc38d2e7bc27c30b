// A numbered, labelled set of encoded (JPEG) images: a folder tree (image_folder.h) or packed
// shards (image_shards.h). Example i has label labels()[i] and bytes read(i); the order is the
// folder's (classes sorted, files sorted within a class), the same for both.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bigbatch::data {

class EncodedImages {
 public:
  EncodedImages(std::string where, std::string name, std::vector<std::string> class_names, std::vector<int32_t> labels)
      : where_(std::move(where)),
        name_(std::move(name)),
        class_names_(std::move(class_names)),
        labels_(std::move(labels)) {}
  virtual ~EncodedImages() = default;
  EncodedImages(const EncodedImages&) = delete;
  EncodedImages& operator=(const EncodedImages&) = delete;

  const std::string& where() const { return where_; }  // "[data:imagefolder]" or "[data:imageshards]"
  const std::string& name() const { return name_; }    // the split's folder or index file
  const std::vector<std::string>& class_names() const { return class_names_; }
  int64_t size() const { return static_cast<int64_t>(labels_.size()); }
  int32_t label(int64_t i) const { return labels_[static_cast<size_t>(i)]; }

  // The encoded bytes of image i into out (resized). Thread-safe. Throws InvalidArgument
  // "<where> <describe(i)>: ..." when the file cannot be read or fails its checksum.
  virtual void read(int64_t i, std::vector<uint8_t>& out) const = 0;
  // Which file image i is, for messages: its path, or its shard, record and original path.
  virtual std::string describe(int64_t i) const = 0;

 private:
  std::string where_, name_;
  std::vector<std::string> class_names_;
  std::vector<int32_t> labels_;
};

}  // namespace bigbatch::data
