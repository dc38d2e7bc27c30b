// torchvision's ImageFolder layout: root/<split>/<class>/**/*.jpg. Classes are the train
// split's sub-folders in sorted order (label = position); files are ordered as torchvision
// orders them (sub-folders sorted, names sorted within each).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bigbatch/data/encoded_images.h"

namespace bigbatch::data {

constexpr const char* kImageFolderWhere = "[data:imagefolder]";

struct FolderListing {
  std::vector<std::string> class_names;
  std::vector<std::string> files;  // full paths
  std::vector<int32_t> labels;
};

// The class names: root/train's sub-folders, sorted. Throws InvalidArgument
// "[data:imagefolder] <root>/train: ..." when the folder is missing or has no class folder.
std::vector<std::string> list_image_classes(const std::string& root);

// The files of root/<split> labelled by class_names (a split's class folder that is not in
// class_names is an error; a class without a folder has no examples in that split). Only
// .jpg/.jpeg files count (any case); other image formats are an error, other files are
// ignored. A missing split folder or an empty class folder throws InvalidArgument.
FolderListing list_image_folder(const std::string& root, const std::string& split,
                                const std::vector<std::string>& class_names);

// The images of one split, read from their files.
std::unique_ptr<EncodedImages> open_image_folder(const std::string& root, const std::string& split);

// Reads a whole file; throws InvalidArgument "<where> <path>: cannot read: <reason>".
void read_whole_file(const std::string& path, const char* where, std::vector<uint8_t>& out);

}  // namespace bigbatch::data
