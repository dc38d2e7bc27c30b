// A small graph with every op Inception-v3 adds to the ResNets, for the executors' tests:
// branches joined by channel concatenation (one input read by three branches, a concat of a
// concat), 1×3 / 3×1 / 1×5 kernels with asymmetric padding, average pooling that counts its
// padding next to one that does not, BN with ε = 0.001, dropout, and two classifier heads.
#pragma once

#include "bigbatch/nn/graph.h"

namespace bigbatch::testing {

inline nn::Graph branch_graph(int64_t channels = 3, int64_t size = 9, int64_t classes = 5, double dropout = 0.5) {
  nn::Graph g;
  auto conv_bn = [&g](const std::string& name, int src, int64_t out, int64_t kh, int64_t kw, int64_t ph, int64_t pw) {
    ops::Conv2dParams p;
    p.in_channels = g.node(src).c;
    p.out_channels = out;
    p.kernel_h = kh;
    p.kernel_w = kw;
    p.pad_h = ph;
    p.pad_w = pw;
    return g.batch_norm(name + ".bn", g.conv2d(name + ".conv", src, p), true, false, 0.001);
  };
  const int x = g.input(channels, size, size);
  const int stem = conv_bn("stem", x, 6, 3, 3, 1, 1);
  const int b1 = conv_bn("b1", stem, 4, 1, 1, 0, 0);
  const int b2a = conv_bn("b2a", stem, 3, 1, 3, 0, 1);
  const int b2b = conv_bn("b2b", b2a, 5, 3, 1, 1, 0);
  const int b3 = conv_bn("b3", g.avg_pool(stem, {3, 3, 1, 1, 1, 1, false}), 2, 1, 5, 0, 2);
  const int b4 = g.avg_pool(stem, {3, 3, 1, 1, 1, 1, true});
  const int inner = g.concat({b2b, b3});
  const int mixed = g.concat({b1, inner, b4});  // 4 + 5 + 2 + 6 = 17 channels
  // The auxiliary head reads the mixed block; the main one goes on through another conv.
  const int aux_pool = g.global_avg_pool(conv_bn("aux.conv", mixed, 7, 1, 1, 0, 0));
  const int aux = g.linear("aux.fc", aux_pool, {7, classes, true});
  const int top = conv_bn("top", mixed, 8, 3, 3, 1, 1);
  const int drop = g.dropout(g.global_avg_pool(top), {dropout});
  const int fc = g.linear("fc", drop, {8, classes, true});
  g.set_heads({fc, aux});
  return g;
}

}  // namespace bigbatch::testing
