// CIFAR-style ResNets of depth 6n+2 (He et al. 2016, §4.2) with projection shortcuts, named
// like torchvision's ResNet so checkpoints map onto its state dicts.
#pragma once

#include "bigbatch/models/registry.h"

namespace bigbatch::models {

// 3×3 conv stem of 16 channels + BN + ReLU (no max-pool), three stages of n BasicBlocks
// with 16/32/64 channels (stages 2 and 3 start with stride 2 and a 1×1 conv + BN
// projection), global average pooling and fc. depth must be 6n+2 (8, 14, 20, ...).
nn::Graph resnet_cifar(int depth, const ModelSpec& spec);

}  // namespace bigbatch::models
