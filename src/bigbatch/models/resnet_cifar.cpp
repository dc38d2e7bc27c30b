// CIFAR-style 6n+2 ResNets: torchvision's module names on He et al.'s CIFAR architecture.
#include "bigbatch/models/resnet_cifar.h"

#include "bigbatch/core/error.h"
#include "bigbatch/models/resnet_blocks.h"

namespace bigbatch::models {

nn::Graph resnet_cifar(int depth, const ModelSpec& spec) {
  BIGBATCH_CHECK(depth >= 8 && (depth - 2) % 6 == 0,
                 "[models] a CIFAR ResNet's depth must be 6n+2 with n >= 1, got " << depth);
  const int blocks = (depth - 2) / 6;
  nn::Graph g;
  int x = g.input(spec.in_channels, spec.height, spec.width);
  x = conv_bn(g, "conv1", "bn1", x, 16, 3, 1, true);
  const int64_t planes[3] = {16, 32, 64};
  for (int stage = 0; stage < 3; ++stage) {
    for (int b = 0; b < blocks; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      x = basic_block(g, "layer" + std::to_string(stage + 1) + "." + std::to_string(b), x, planes[stage], stride);
    }
  }
  classifier(g, x, spec.num_classes);
  return g;
}

}  // namespace bigbatch::models
