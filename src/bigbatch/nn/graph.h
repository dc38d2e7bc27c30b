// A network as a static DAG of op nodes, built once by a model. Nodes are stored in
// topological order (every input precedes its consumer); backward walks them in reverse.
// Parameters (conv/fc weights, biases, BN γ/β) and buffers (BN running statistics) are
// entries of two ArenaLayouts whose names are torchvision's state-dict names.
#pragma once

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "bigbatch/core/arena.h"
#include "bigbatch/ops/batch_norm.h"
#include "bigbatch/ops/conv2d.h"
#include "bigbatch/ops/dropout.h"
#include "bigbatch/ops/linear.h"
#include "bigbatch/ops/pool.h"

namespace bigbatch::nn {

enum class OpKind {
  input,
  conv2d,
  batch_norm,
  relu,
  max_pool,
  avg_pool,
  global_avg_pool,
  linear,
  add,
  concat,
  dropout
};

const char* op_kind_name(OpKind kind);

struct NoParams {};
// BN's eps, momentum and fused ReLU live here; its group size is chosen per run (the
// executor's bn_group), since n is a hyper-parameter of the job, not of the network.
using NodeParams = std::variant<NoParams, ops::Conv2dParams, ops::BatchNormParams, ops::PoolParams, ops::LinearParams,
                                ops::DropoutParams>;

struct Node {
  OpKind kind = OpKind::input;
  std::string name;         // state-dict prefix for layers with tensors ("layer1.0.bn2"); else a label
  std::vector<int> inputs;  // node ids, each < this node's id
  NodeParams params;
  bool fuse_relu = false;  // batch_norm and add: dst = max(0, result)
  // Per-example output extents (C, H, W; H = W = 1 after global pooling and linear).
  int64_t c = 0, h = 0, w = 0;
  // Indices into the parameter layout (-1 when absent).
  int weights = -1, bias = -1;  // conv2d, linear
  int gamma = -1, beta = -1;    // batch_norm
  // Indices into the buffer layout (batch_norm only). num_batches_tracked is a rank-0 f32
  // entry (role bn_running_mean) counting training forwards; checkpoints store it as
  // torchvision's 0-dim int64.
  int running_mean = -1, running_var = -1, num_batches_tracked = -1;
  bool last_bn_in_block = false;  // zero-γ candidate (RECIPE §6)
  // conv2d and linear: > 0 draws the weights from N(0, σ²) truncated to [−2, 2], as torchvision
  // initialises Inception-v3; 0 keeps the recipe's rules (He fan-out, N(0, 0.01²)).
  double init_stddev = 0.0;
};

// One classifier head of the output: its node, classes and first column in the logits.
struct Head {
  int node = -1;
  int64_t classes = 0;
  int64_t offset = 0;
};

// dst (batch x head.classes) = the head's columns of logits (batch x columns, row-major).
void gather_head(const Head& head, int64_t columns, int64_t batch, const float* logits, float* dst);

class Graph {
 public:
  Graph();

  // Builders; each returns the new node's id. Names follow torchvision ("layer1.0.conv1").
  int input(int64_t channels, int64_t height, int64_t width);
  int conv2d(const std::string& name, int src, const ops::Conv2dParams& params);
  int batch_norm(const std::string& name, int src, bool fuse_relu, bool last_bn_in_block = false, double eps = 1e-5);
  int relu(int src);
  int max_pool(int src, const ops::PoolParams& params);
  int avg_pool(int src, const ops::PoolParams& params);
  int global_avg_pool(int src);
  int linear(const std::string& name, int src, const ops::LinearParams& params);
  int add(int a, int b, bool fuse_relu);
  // Channel concatenation of srcs (same H×W), in order.
  int concat(const std::vector<int>& srcs);
  int dropout(int src, const ops::DropoutParams& params);
  // conv2d or linear node: its initialisation (Node::init_stddev).
  void set_init_stddev(int node, double stddev);
  // One classifier head: the output is its node.
  void set_output(int node);
  // Several (Inception-v3's auxiliary classifier): the output is a concat of the heads, each
  // classes x 1 x 1, head 0 the main one. Training weighs each head's loss; evaluation and
  // accuracy read head 0 only.
  void set_heads(const std::vector<int>& heads);

  const std::vector<Node>& nodes() const { return nodes_; }
  const Node& node(int id) const { return nodes_[static_cast<size_t>(id)]; }
  int size() const { return static_cast<int>(nodes_.size()); }
  int output() const { return output_; }
  // Classes of the main head; the logits have output_columns() (all heads side by side).
  int64_t num_classes() const { return heads_.at(0).classes; }
  int64_t output_columns() const { return node(output_).c; }
  const std::vector<Head>& heads() const { return heads_; }
  const Node& input_node() const { return nodes_.front(); }

  // Frozen once the model is built; arenas are made from these.
  std::shared_ptr<const ArenaLayout> parameter_layout() const { return params_; }
  std::shared_ptr<const ArenaLayout> buffer_layout() const { return buffers_; }

  // Multiply-accumulates ×2 of one example's forward pass.
  int64_t forward_flops_per_example() const;
  // Each node with parameters, in backward order (descending id): the range of the parameter
  // (and gradient) arena its tensors take, padding included. Bucketing takes these.
  std::vector<ArenaRange> gradient_ranges() const;
  // Nodes whose output is read by `id` later (consumers), for planning.
  std::vector<int> consumers(int id) const;

 private:
  int push(Node node);
  // max_pool and avg_pool: kind is one of them; the node is named name_prefix + its id.
  int pool(OpKind kind, const char* name_prefix, int src, const ops::PoolParams& params);
  // Throws unless `name` is non-empty and no layer owns "<name>.weight" yet.
  void check_new_layer_name(const char* kind, const std::string& name) const;
  std::vector<Node> nodes_;
  int output_ = -1;
  std::vector<Head> heads_;
  std::shared_ptr<ArenaLayout> params_;
  std::shared_ptr<ArenaLayout> buffers_;
};

}  // namespace bigbatch::nn
