// Inception-v3's blocks in torchvision's module order, so that the layouts come out in
// state-dict order (the auxiliary head between Mixed_6e and Mixed_7a, as it is registered).
#include "bigbatch/models/inception_v3.h"

#include <string>
#include <vector>

#include "bigbatch/core/error.h"

namespace bigbatch::models {

namespace {

constexpr double kBatchNormEps = 0.001;

struct Kernel {
  int64_t h, w;
  int64_t stride = 1;
  int64_t pad_h = 0, pad_w = 0;
};

// torchvision's BasicConv2d: a bias-free conv, BN (ε 0.001), ReLU (fused into the BN).
int basic_conv(nn::Graph& g, const std::string& name, int src, int64_t out_channels, const Kernel& k) {
  ops::Conv2dParams p;
  p.in_channels = g.node(src).c;
  p.out_channels = out_channels;
  p.kernel_h = k.h;
  p.kernel_w = k.w;
  p.stride_h = p.stride_w = k.stride;
  p.pad_h = k.pad_h;
  p.pad_w = k.pad_w;
  const int conv = g.conv2d(name + ".conv", src, p);
  g.set_init_stddev(conv, 0.1);
  return g.batch_norm(name + ".bn", conv, /*fuse_relu=*/true, /*last_bn_in_block=*/false, kBatchNormEps);
}

const Kernel k1{1, 1};
const Kernel k3{3, 3, 1, 1, 1};
const Kernel k3_stride2{3, 3, 2};
const Kernel k1x3{1, 3, 1, 0, 1};
const Kernel k3x1{3, 1, 1, 1, 0};
const Kernel k1x7{1, 7, 1, 0, 3};
const Kernel k7x1{7, 1, 1, 3, 0};

// F.max_pool2d(x, 3, stride=2) and F.avg_pool2d(x, 3, stride=1, padding=1), which counts
// the padding (count_include_pad=True, PyTorch's default).
int max_pool_3x3_stride2(nn::Graph& g, int src) { return g.max_pool(src, {3, 3, 2, 2, 0, 0, false}); }
int avg_pool_3x3_same(nn::Graph& g, int src) { return g.avg_pool(src, {3, 3, 1, 1, 1, 1, false}); }

int inception_a(nn::Graph& g, const std::string& m, int x, int64_t pool_features) {
  const int b1 = basic_conv(g, m + ".branch1x1", x, 64, k1);
  int b5 = basic_conv(g, m + ".branch5x5_1", x, 48, k1);
  b5 = basic_conv(g, m + ".branch5x5_2", b5, 64, {5, 5, 1, 2, 2});
  int b3 = basic_conv(g, m + ".branch3x3dbl_1", x, 64, k1);
  b3 = basic_conv(g, m + ".branch3x3dbl_2", b3, 96, k3);
  b3 = basic_conv(g, m + ".branch3x3dbl_3", b3, 96, k3);
  const int bp = basic_conv(g, m + ".branch_pool", avg_pool_3x3_same(g, x), pool_features, k1);
  return g.concat({b1, b5, b3, bp});
}

int inception_b(nn::Graph& g, const std::string& m, int x) {
  const int b3 = basic_conv(g, m + ".branch3x3", x, 384, k3_stride2);
  int bd = basic_conv(g, m + ".branch3x3dbl_1", x, 64, k1);
  bd = basic_conv(g, m + ".branch3x3dbl_2", bd, 96, k3);
  bd = basic_conv(g, m + ".branch3x3dbl_3", bd, 96, k3_stride2);
  return g.concat({b3, bd, max_pool_3x3_stride2(g, x)});
}

int inception_c(nn::Graph& g, const std::string& m, int x, int64_t c7) {
  const int b1 = basic_conv(g, m + ".branch1x1", x, 192, k1);
  int b7 = basic_conv(g, m + ".branch7x7_1", x, c7, k1);
  b7 = basic_conv(g, m + ".branch7x7_2", b7, c7, k1x7);
  b7 = basic_conv(g, m + ".branch7x7_3", b7, 192, k7x1);
  int bd = basic_conv(g, m + ".branch7x7dbl_1", x, c7, k1);
  bd = basic_conv(g, m + ".branch7x7dbl_2", bd, c7, k7x1);
  bd = basic_conv(g, m + ".branch7x7dbl_3", bd, c7, k1x7);
  bd = basic_conv(g, m + ".branch7x7dbl_4", bd, c7, k7x1);
  bd = basic_conv(g, m + ".branch7x7dbl_5", bd, 192, k1x7);
  const int bp = basic_conv(g, m + ".branch_pool", avg_pool_3x3_same(g, x), 192, k1);
  return g.concat({b1, b7, bd, bp});
}

int inception_d(nn::Graph& g, const std::string& m, int x) {
  int b3 = basic_conv(g, m + ".branch3x3_1", x, 192, k1);
  b3 = basic_conv(g, m + ".branch3x3_2", b3, 320, k3_stride2);
  int b7 = basic_conv(g, m + ".branch7x7x3_1", x, 192, k1);
  b7 = basic_conv(g, m + ".branch7x7x3_2", b7, 192, k1x7);
  b7 = basic_conv(g, m + ".branch7x7x3_3", b7, 192, k7x1);
  b7 = basic_conv(g, m + ".branch7x7x3_4", b7, 192, k3_stride2);
  return g.concat({b3, b7, max_pool_3x3_stride2(g, x)});
}

int inception_e(nn::Graph& g, const std::string& m, int x) {
  const int b1 = basic_conv(g, m + ".branch1x1", x, 320, k1);
  const int b3 = basic_conv(g, m + ".branch3x3_1", x, 384, k1);
  const int b3a = basic_conv(g, m + ".branch3x3_2a", b3, 384, k1x3);
  const int b3b = basic_conv(g, m + ".branch3x3_2b", b3, 384, k3x1);
  const int b3cat = g.concat({b3a, b3b});
  int bd = basic_conv(g, m + ".branch3x3dbl_1", x, 448, k1);
  bd = basic_conv(g, m + ".branch3x3dbl_2", bd, 384, k3);
  const int bda = basic_conv(g, m + ".branch3x3dbl_3a", bd, 384, k1x3);
  const int bdb = basic_conv(g, m + ".branch3x3dbl_3b", bd, 384, k3x1);
  const int bdcat = g.concat({bda, bdb});
  const int bp = basic_conv(g, m + ".branch_pool", avg_pool_3x3_same(g, x), 192, k1);
  return g.concat({b1, b3cat, bdcat, bp});
}

int fully_connected(nn::Graph& g, const std::string& name, int src, int64_t classes, double init_stddev) {
  ops::LinearParams p;
  p.in_features = g.node(src).c * g.node(src).h * g.node(src).w;
  p.out_features = classes;
  p.bias = true;
  const int fc = g.linear(name, src, p);
  g.set_init_stddev(fc, init_stddev);
  return fc;
}

// InceptionAux: avg_pool2d(5, stride 3), 1×1 conv to 128, 5×5 conv to 768, adaptive average
// pool, fc. torchvision sets stddev 0.01 on the conv1 wrapper (BasicConv2d), which its
// initialiser never reads, so that conv is drawn with the default 0.1 there and here; the fc's
// 0.001 is on the Linear itself and applies.
int aux_logits(nn::Graph& g, int x, int64_t classes) {
  int a = g.avg_pool(x, {5, 5, 3, 3, 0, 0, false});
  a = basic_conv(g, "AuxLogits.conv0", a, 128, k1);
  a = basic_conv(g, "AuxLogits.conv1", a, 768, {5, 5});
  return fully_connected(g, "AuxLogits.fc", g.global_avg_pool(a), classes, 0.001);
}

}  // namespace

nn::Graph inception_v3(const ModelSpec& spec, bool aux) {
  // The smallest inputs whose maps do not vanish: the auxiliary head's 5x5 conv needs Mixed_6e
  // at 17x17 (as torchvision, which documents 75 for the net without it).
  const int64_t smallest = aux ? 299 : 75;
  BIGBATCH_CHECK(spec.height >= smallest && spec.width >= smallest,
                 "[models] " << spec.name << " needs an input of at least " << smallest << "x" << smallest
                             << (aux ? " (its auxiliary head; inception_v3_noaux: 75x75)" : "") << ", got "
                             << spec.in_channels << "x" << spec.height << "x" << spec.width
                             << ": an ImageNet-style folder with --image-size 299, say");
  nn::Graph g;
  int x = g.input(spec.in_channels, spec.height, spec.width);
  x = basic_conv(g, "Conv2d_1a_3x3", x, 32, k3_stride2);
  x = basic_conv(g, "Conv2d_2a_3x3", x, 32, {3, 3});
  x = basic_conv(g, "Conv2d_2b_3x3", x, 64, k3);
  x = max_pool_3x3_stride2(g, x);
  x = basic_conv(g, "Conv2d_3b_1x1", x, 80, k1);
  x = basic_conv(g, "Conv2d_4a_3x3", x, 192, {3, 3});
  x = max_pool_3x3_stride2(g, x);
  x = inception_a(g, "Mixed_5b", x, 32);
  x = inception_a(g, "Mixed_5c", x, 64);
  x = inception_a(g, "Mixed_5d", x, 64);
  x = inception_b(g, "Mixed_6a", x);
  x = inception_c(g, "Mixed_6b", x, 128);
  x = inception_c(g, "Mixed_6c", x, 160);
  x = inception_c(g, "Mixed_6d", x, 160);
  x = inception_c(g, "Mixed_6e", x, 192);
  const int aux_head = aux ? aux_logits(g, x, spec.num_classes) : -1;
  x = inception_d(g, "Mixed_7a", x);
  x = inception_e(g, "Mixed_7b", x);
  x = inception_e(g, "Mixed_7c", x);
  x = g.dropout(g.global_avg_pool(x), {spec.dropout});
  const int fc = fully_connected(g, "fc", x, spec.num_classes, 0.1);
  if (aux) {
    g.set_heads({fc, aux_head});
  } else {
    g.set_output(fc);
  }
  return g;
}

}  // namespace bigbatch::models
