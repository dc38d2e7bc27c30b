// torchvision's ImageNet ResNets: 7×7/2 stem, 3×3/2 max-pool, four stages, fc.
#include "bigbatch/models/resnet_imagenet.h"

#include "bigbatch/core/error.h"
#include "bigbatch/models/resnet_blocks.h"

namespace bigbatch::models {

namespace {

struct Variant {
  int depth;
  bool bottleneck;  // else BasicBlock
  int blocks[4];    // per stage
};

constexpr Variant kVariants[] = {
    {18, false, {2, 2, 2, 2}},  {34, false, {3, 4, 6, 3}},  {50, true, {3, 4, 6, 3}},
    {101, true, {3, 4, 23, 3}}, {152, true, {3, 8, 36, 3}},
};

}  // namespace

nn::Graph resnet_imagenet(int depth, const ModelSpec& spec) {
  const Variant* v = nullptr;
  for (const Variant& candidate : kVariants)
    if (candidate.depth == depth) v = &candidate;
  BIGBATCH_CHECK(v != nullptr, "[models] an ImageNet ResNet's depth must be 18, 34, 50, 101 or 152, got " << depth);
  nn::Graph g;
  int x = g.input(spec.in_channels, spec.height, spec.width);
  x = conv_bn(g, "conv1", "bn1", x, 64, 7, 2, true);
  ops::PoolParams pool;
  pool.kernel_h = pool.kernel_w = 3;
  pool.stride_h = pool.stride_w = 2;
  pool.pad_h = pool.pad_w = 1;
  x = g.max_pool(x, pool);
  const int64_t planes[4] = {64, 128, 256, 512};
  for (int stage = 0; stage < 4; ++stage) {
    for (int b = 0; b < v->blocks[stage]; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      const std::string prefix = "layer" + std::to_string(stage + 1) + "." + std::to_string(b);
      x = v->bottleneck ? bottleneck(g, prefix, x, planes[stage], stride)
                        : basic_block(g, prefix, x, planes[stage], stride);
    }
  }
  classifier(g, x, spec.num_classes);
  return g;
}

}  // namespace bigbatch::models
