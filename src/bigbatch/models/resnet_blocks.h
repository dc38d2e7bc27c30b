// Residual blocks shared by the CIFAR- and ImageNet-style ResNets (torchvision's
// BasicBlock and Bottleneck), added to a Graph under a prefix such as "layer2.0".
#pragma once

#include <string>

#include "bigbatch/nn/graph.h"

namespace bigbatch::models {

// conv-BN(+ReLU) with a bias-free square kernel, padding kernel/2; returns the BN's id.
int conv_bn(nn::Graph& g, const std::string& conv_name, const std::string& bn_name, int src, int64_t out_channels,
            int64_t kernel, int64_t stride, bool relu, bool last_bn_in_block = false);

// conv3x3-BN-ReLU-conv3x3-BN (+ shortcut), ReLU. A 1×1 projection ("downsample.0/1") is
// added when stride != 1 or the channel count changes. Returns the block's output id.
int basic_block(nn::Graph& g, const std::string& prefix, int src, int64_t planes, int64_t stride);

// conv1x1-BN-ReLU-conv3x3(stride)-BN-ReLU-conv1x1(4·planes)-BN (+ shortcut), ReLU.
int bottleneck(nn::Graph& g, const std::string& prefix, int src, int64_t planes, int64_t stride);

// Global average pooling, flatten, fc to num_classes; sets and returns the output node.
int classifier(nn::Graph& g, int src, int64_t num_classes);

}  // namespace bigbatch::models
