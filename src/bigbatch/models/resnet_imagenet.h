// ImageNet ResNets exactly as torchvision's resnet18/34/50/101/152 ("v1.5": a Bottleneck
// strides on its 3×3 conv), with torchvision's state-dict names.
#pragma once

#include "bigbatch/models/registry.h"

namespace bigbatch::models {

// depth is one of 18, 34 (BasicBlock), 50, 101, 152 (Bottleneck, expansion 4).
nn::Graph resnet_imagenet(int depth, const ModelSpec& spec);

}  // namespace bigbatch::models
