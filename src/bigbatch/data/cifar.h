// CIFAR-10 and CIFAR-100 binary versions: fixed-size records of label byte(s) + 3×32×32 pixels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bigbatch/data/dataset.h"

namespace bigbatch::data {

inline constexpr int64_t kCifarSide = 32;
inline constexpr int64_t kCifarImageBytes = 3 * kCifarSide * kCifarSide;  // 3072, channel-planar R, G, B

// CIFAR-10: data_batch_1.bin .. data_batch_5.bin (train, 50000) or test_batch.bin (10000) in
// dir (the cifar-10-batches-bin folder). Records: 1 label byte + 3072 pixel bytes.
// Normalisation: mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616).
Dataset load_cifar10(const std::string& dir, bool train);

// CIFAR-100: train.bin (50000) or test.bin (10000) in dir (the cifar-100-binary folder).
// Records: coarse label byte (20 classes), fine label byte (100 classes), 3072 pixel bytes.
// Normalisation: mean (0.5071, 0.4865, 0.4409), std (0.2673, 0.2564, 0.2762).
Dataset load_cifar100(const std::string& dir, bool train, bool fine_labels = true);

// The common reader: records of label_bytes label bytes (the label is byte label_index) then
// 3072 pixels, concatenated over files in order; CIFAR-10 normalisation. Problems throw
// "[data:cifar] <path>: ...".
Dataset load_cifar_files(const std::vector<std::string>& paths, int64_t label_bytes, int64_t label_index,
                         int64_t num_classes);

}  // namespace bigbatch::data
