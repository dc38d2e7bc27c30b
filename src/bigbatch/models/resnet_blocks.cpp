// BasicBlock and Bottleneck in torchvision's module order, so that the parameter and buffer
// layouts come out in state-dict order (the downsample branch is registered last).
#include "bigbatch/models/resnet_blocks.h"

namespace bigbatch::models {

int conv_bn(nn::Graph& g, const std::string& conv_name, const std::string& bn_name, int src, int64_t out_channels,
            int64_t kernel, int64_t stride, bool relu, bool last_bn_in_block) {
  ops::Conv2dParams p;
  p.in_channels = g.node(src).c;
  p.out_channels = out_channels;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = kernel / 2;
  p.bias = false;
  const int conv = g.conv2d(conv_name, src, p);
  return g.batch_norm(bn_name, conv, relu, last_bn_in_block);
}

namespace {

// The shortcut: identity, or a strided 1×1 conv + BN where the shape changes.
int shortcut(nn::Graph& g, const std::string& prefix, int src, int64_t out_channels, int64_t stride) {
  if (stride == 1 && g.node(src).c == out_channels) return src;
  return conv_bn(g, prefix + ".downsample.0", prefix + ".downsample.1", src, out_channels, 1, stride, false);
}

}  // namespace

int basic_block(nn::Graph& g, const std::string& prefix, int src, int64_t planes, int64_t stride) {
  int x = conv_bn(g, prefix + ".conv1", prefix + ".bn1", src, planes, 3, stride, true);
  x = conv_bn(g, prefix + ".conv2", prefix + ".bn2", x, planes, 3, 1, false, true);
  return g.add(x, shortcut(g, prefix, src, planes, stride), true);
}

int bottleneck(nn::Graph& g, const std::string& prefix, int src, int64_t planes, int64_t stride) {
  constexpr int64_t kExpansion = 4;
  int x = conv_bn(g, prefix + ".conv1", prefix + ".bn1", src, planes, 1, 1, true);
  x = conv_bn(g, prefix + ".conv2", prefix + ".bn2", x, planes, 3, stride, true);
  x = conv_bn(g, prefix + ".conv3", prefix + ".bn3", x, planes * kExpansion, 1, 1, false, true);
  return g.add(x, shortcut(g, prefix, src, planes * kExpansion, stride), true);
}

int classifier(nn::Graph& g, int src, int64_t num_classes) {
  const int pooled = g.global_avg_pool(src);
  ops::LinearParams p;
  p.in_features = g.node(pooled).c;
  p.out_features = num_classes;
  p.bias = true;
  const int fc = g.linear("fc", pooled, p);
  g.set_output(fc);
  return fc;
}

}  // namespace bigbatch::models
