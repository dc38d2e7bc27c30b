// MNIST / Fashion-MNIST idx files (idx3 ubyte images, idx1 ubyte labels), gzipped or not.
#pragma once

#include <cstdint>
#include <string>

#include "bigbatch/data/dataset.h"

namespace bigbatch::data {

// Where Debian's dataset-fashion-mnist installs the four .gz files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
// Fashion-MNIST training-set statistics on the [0, 1] scale: x = (pixel/255 − 0.2860)/0.3530.
inline constexpr float kFashionMnistMean = 0.2860f;
inline constexpr float kFashionMnistStd = 0.3530f;

// The train split (train-images-idx3-ubyte, train-labels-idx1-ubyte) or the test split
// (t10k-*) of dir, each file taken as NAME.gz when that exists, else NAME. 1×28×28 images,
// 10 classes, Fashion-MNIST normalisation (call compute_normalization for other data).
// Any problem with a file throws one InvalidArgument "[data:idx] <path>: <what is wrong>".
Dataset load_mnist(const std::string& dir, bool train);

// One idx3 image file and its idx1 label file; labels must lie in [0, num_classes).
Dataset load_idx(const std::string& images_path, const std::string& labels_path, int64_t num_classes);

}  // namespace bigbatch::data
