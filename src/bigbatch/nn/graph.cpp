// Graph builders: per-example extents, input validation and the torchvision-named
// parameter and buffer layouts.
#include "bigbatch/nn/graph.h"

#include <algorithm>

#include "bigbatch/core/error.h"
#include "bigbatch/ops/concat.h"

namespace bigbatch::nn {

const char* op_kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::input:
      return "input";
    case OpKind::conv2d:
      return "conv2d";
    case OpKind::batch_norm:
      return "batch_norm";
    case OpKind::relu:
      return "relu";
    case OpKind::max_pool:
      return "max_pool";
    case OpKind::avg_pool:
      return "avg_pool";
    case OpKind::global_avg_pool:
      return "global_avg_pool";
    case OpKind::linear:
      return "linear";
    case OpKind::add:
      return "add";
    case OpKind::concat:
      return "concat";
    case OpKind::dropout:
      return "dropout";
  }
  return "?";
}

namespace {

ops::Dims4 example_dims(const Node& n) { return {1, n.c, n.h, n.w}; }

// A node of `kind` named `name`, reading `inputs`, whose output has one example's extents d.
Node make_node(OpKind kind, std::string name, std::vector<int> inputs, const ops::Dims4& d) {
  Node n;
  n.kind = kind;
  n.name = std::move(name);
  n.inputs = std::move(inputs);
  n.c = d.c;
  n.h = d.h;
  n.w = d.w;
  return n;
}

// Wraps an op's own shape error so the message also names the graph node.
template <class F>
ops::Dims4 dst_dims_or_throw(const std::string& what, F&& f) {
  try {
    return f();
  } catch (const InvalidArgument& e) {
    BIGBATCH_THROW(InvalidArgument, "[graph] " << what << ": " << e.what());
  }
}

}  // namespace

void Graph::check_new_layer_name(const char* kind, const std::string& name) const {
  BIGBATCH_CHECK(!name.empty(), "[graph] " << kind << " needs a name");
  BIGBATCH_CHECK(params_->find(name + ".weight") < 0,
                 "[graph] " << kind << " '" << name << "': a layer of that name already exists");
}

Graph::Graph() : params_(std::make_shared<ArenaLayout>()), buffers_(std::make_shared<ArenaLayout>()) {}

int Graph::push(Node node) {
  for (int src : node.inputs)
    BIGBATCH_CHECK(src >= 0 && src < size(), "[graph] " << op_kind_name(node.kind) << " '" << node.name
                                                        << "': input node " << src << " does not exist (graph has "
                                                        << size() << " nodes)");
  BIGBATCH_CHECK(node.kind == OpKind::input || !nodes_.empty(),
                 "[graph] " << op_kind_name(node.kind) << " '" << node.name << "' before the input node");
  nodes_.push_back(std::move(node));
  return size() - 1;
}

int Graph::input(int64_t channels, int64_t height, int64_t width) {
  BIGBATCH_CHECK(nodes_.empty(), "[graph] input() must be the first node and appear once");
  BIGBATCH_CHECK(channels > 0 && height > 0 && width > 0,
                 "[graph] input extents must be positive, got " << channels << "x" << height << "x" << width);
  Node n;
  n.kind = OpKind::input;
  n.name = "input";
  n.c = channels;
  n.h = height;
  n.w = width;
  return push(std::move(n));
}

int Graph::conv2d(const std::string& name, int src, const ops::Conv2dParams& params) {
  check_new_layer_name("conv2d", name);
  BIGBATCH_CHECK(src >= 0 && src < size(), "[graph] conv2d '" << name << "': input node " << src << " does not exist");
  const Node& in = node(src);
  BIGBATCH_CHECK(params.in_channels == in.c, "[graph] conv2d '" << name << "': in_channels " << params.in_channels
                                                                << " but its input has " << in.c << " channels");
  BIGBATCH_CHECK(params.out_channels > 0 && params.kernel_h > 0 && params.kernel_w > 0 && params.stride_h > 0 &&
                     params.stride_w > 0 && params.pad_h >= 0 && params.pad_w >= 0,
                 "[graph] conv2d '" << name << "': out_channels, kernel and stride must be positive, padding >= 0");
  ops::Dims4 d =
      dst_dims_or_throw("conv2d '" + name + "'", [&] { return ops::conv2d_dst_dims(params, example_dims(in)); });
  Node n;
  n.kind = OpKind::conv2d;
  n.name = name;
  n.inputs = {src};
  n.params = params;
  n.c = d.c;
  n.h = d.h;
  n.w = d.w;
  n.weights =
      params_->add(name + ".weight", Shape{params.out_channels, params.in_channels, params.kernel_h, params.kernel_w},
                   TensorRole::conv_weight);
  if (params.bias) n.bias = params_->add(name + ".bias", Shape{params.out_channels}, TensorRole::bias);
  return push(std::move(n));
}

int Graph::batch_norm(const std::string& name, int src, bool fuse_relu, bool last_bn_in_block, double eps) {
  check_new_layer_name("batch_norm", name);
  BIGBATCH_CHECK(src >= 0 && src < size(),
                 "[graph] batch_norm '" << name << "': input node " << src << " does not exist");
  BIGBATCH_CHECK(eps > 0.0, "[graph] batch_norm '" << name << "': eps must be positive, got " << eps);
  const Node& in = node(src);
  ops::BatchNormParams p;
  p.channels = in.c;
  p.eps = eps;
  p.fuse_relu = fuse_relu;
  Node n;
  n.kind = OpKind::batch_norm;
  n.name = name;
  n.inputs = {src};
  n.params = p;
  n.fuse_relu = fuse_relu;
  n.last_bn_in_block = last_bn_in_block;
  n.c = in.c;
  n.h = in.h;
  n.w = in.w;
  n.gamma = params_->add(name + ".weight", Shape{in.c}, TensorRole::bn_gamma);
  n.beta = params_->add(name + ".bias", Shape{in.c}, TensorRole::bn_beta);
  n.running_mean = buffers_->add(name + ".running_mean", Shape{in.c}, TensorRole::bn_running_mean);
  n.running_var = buffers_->add(name + ".running_var", Shape{in.c}, TensorRole::bn_running_var);
  // torchvision keeps a 0-dim int64 counter; here a rank-0 f32 (one element) that the
  // checkpoint code converts. No TensorRole of its own: arena.h is shared by all layers.
  n.num_batches_tracked = buffers_->add(name + ".num_batches_tracked", Shape{}, TensorRole::bn_running_mean);
  return push(std::move(n));
}

int Graph::relu(int src) {
  BIGBATCH_CHECK(src >= 0 && src < size(), "[graph] relu: input node " << src << " does not exist");
  return push(make_node(OpKind::relu, "relu" + std::to_string(size()), {src}, example_dims(node(src))));
}

int Graph::max_pool(int src, const ops::PoolParams& params) { return pool(OpKind::max_pool, "maxpool", src, params); }

int Graph::avg_pool(int src, const ops::PoolParams& params) { return pool(OpKind::avg_pool, "avgpool", src, params); }

int Graph::pool(OpKind kind, const char* name_prefix, int src, const ops::PoolParams& params) {
  const char* what = op_kind_name(kind);
  BIGBATCH_CHECK(src >= 0 && src < size(), "[graph] " << what << ": input node " << src << " does not exist");
  ops::Dims4 d = dst_dims_or_throw(what, [&] { return ops::pool_dst_dims(params, example_dims(node(src))); });
  Node n = make_node(kind, name_prefix + std::to_string(size()), {src}, d);
  n.params = params;
  return push(std::move(n));
}

int Graph::global_avg_pool(int src) {
  BIGBATCH_CHECK(src >= 0 && src < size(), "[graph] global_avg_pool: input node " << src << " does not exist");
  return push(make_node(OpKind::global_avg_pool, "avgpool", {src}, {1, node(src).c, 1, 1}));
}

int Graph::linear(const std::string& name, int src, const ops::LinearParams& params) {
  check_new_layer_name("linear", name);
  BIGBATCH_CHECK(src >= 0 && src < size(), "[graph] linear '" << name << "': input node " << src << " does not exist");
  const Node& in = node(src);
  // The input is read as N×(C·H·W), i.e. flattened like torch.flatten(x, 1).
  const int64_t features = in.c * in.h * in.w;
  BIGBATCH_CHECK(params.in_features == features, "[graph] linear '" << name << "': in_features " << params.in_features
                                                                    << " but its input has " << in.c << "x" << in.h
                                                                    << "x" << in.w << " = " << features);
  BIGBATCH_CHECK(params.out_features > 0,
                 "[graph] linear '" << name << "': out_features must be positive, got " << params.out_features);
  Node n;
  n.kind = OpKind::linear;
  n.name = name;
  n.inputs = {src};
  n.params = params;
  n.c = params.out_features;
  n.h = 1;
  n.w = 1;
  n.weights = params_->add(name + ".weight", Shape{params.out_features, params.in_features}, TensorRole::fc_weight);
  if (params.bias) n.bias = params_->add(name + ".bias", Shape{params.out_features}, TensorRole::bias);
  return push(std::move(n));
}

int Graph::add(int a, int b, bool fuse_relu) {
  BIGBATCH_CHECK(a >= 0 && a < size() && b >= 0 && b < size(),
                 "[graph] add: input nodes " << a << ", " << b << " (graph has " << size() << " nodes)");
  const Node& x = node(a);
  const Node& y = node(b);
  BIGBATCH_CHECK(x.c == y.c && x.h == y.h && x.w == y.w, "[graph] add: '" << x.name << "' is " << x.c << "x" << x.h
                                                                          << "x" << x.w << " but '" << y.name << "' is "
                                                                          << y.c << "x" << y.h << "x" << y.w);
  Node n = make_node(OpKind::add, "add" + std::to_string(size()), {a, b}, example_dims(x));
  n.fuse_relu = fuse_relu;
  return push(std::move(n));
}

int Graph::concat(const std::vector<int>& srcs) {
  std::vector<ops::Dims4> dims;
  for (int src : srcs) {
    BIGBATCH_CHECK(src >= 0 && src < size(), "[graph] concat: input node " << src << " does not exist");
    dims.push_back(example_dims(node(src)));
  }
  const ops::Dims4 d = dst_dims_or_throw("concat", [&] { return ops::concat_dst_dims(dims); });
  return push(make_node(OpKind::concat, "concat" + std::to_string(size()), srcs, d));
}

int Graph::dropout(int src, const ops::DropoutParams& params) {
  BIGBATCH_CHECK(src >= 0 && src < size(), "[graph] dropout: input node " << src << " does not exist");
  try {
    ops::check_dropout_params(params);
  } catch (const InvalidArgument& e) {
    BIGBATCH_THROW(InvalidArgument, "[graph] " << e.what());
  }
  Node n = make_node(OpKind::dropout, "dropout" + std::to_string(size()), {src}, example_dims(node(src)));
  n.params = params;
  return push(std::move(n));
}

void Graph::set_init_stddev(int id, double stddev) {
  BIGBATCH_CHECK(id > 0 && id < size() && (node(id).kind == OpKind::conv2d || node(id).kind == OpKind::linear),
                 "[graph] set_init_stddev: node " << id << " is not a conv2d or linear layer");
  BIGBATCH_CHECK(stddev > 0.0, "[graph] set_init_stddev: '" << node(id).name << "': stddev must be positive");
  nodes_[static_cast<size_t>(id)].init_stddev = stddev;
}

void Graph::set_output(int id) {
  BIGBATCH_CHECK(id > 0 && id < size(), "[graph] set_output: node " << id << " does not exist");
  output_ = id;
  heads_ = {{id, node(id).c, 0}};
}

void Graph::set_heads(const std::vector<int>& heads) {
  BIGBATCH_CHECK(!heads.empty(), "[graph] set_heads: no head");
  if (heads.size() == 1) return set_output(heads[0]);
  std::vector<Head> table;
  int64_t offset = 0;
  for (int id : heads) {
    BIGBATCH_CHECK(id > 0 && id < size() && node(id).h == 1 && node(id).w == 1,
                   "[graph] set_heads: node " << id << " is not a classes x 1 x 1 node");
    table.push_back({id, node(id).c, offset});
    offset += node(id).c;
  }
  output_ = concat(heads);
  nodes_.back().name = "heads";
  heads_ = std::move(table);
}

void gather_head(const Head& head, int64_t columns, int64_t batch, const float* logits, float* dst) {
  for (int64_t i = 0; i < batch; ++i)
    std::copy(logits + i * columns + head.offset, logits + i * columns + head.offset + head.classes,
              dst + i * head.classes);
}

int64_t Graph::forward_flops_per_example() const {
  int64_t macs = 0;
  for (const Node& n : nodes_) {
    if (n.kind == OpKind::conv2d) {
      const auto& p = std::get<ops::Conv2dParams>(n.params);
      macs += n.c * n.h * n.w * p.in_channels * p.kernel_h * p.kernel_w;
    } else if (n.kind == OpKind::linear) {
      const auto& p = std::get<ops::LinearParams>(n.params);
      macs += p.in_features * p.out_features;
    }
  }
  return 2 * macs;
}

std::vector<ArenaRange> Graph::gradient_ranges() const {
  std::vector<ArenaRange> ranges;
  for (int id = size() - 1; id >= 0; --id) {
    const Node& n = node(id);
    ArenaRange r{id, params_->total_elems(), 0};
    for (int index : {n.weights, n.bias, n.gamma, n.beta}) {
      if (index < 0) continue;
      const ArenaEntry& e = params_->entry(index);
      r.begin = std::min(r.begin, e.offset);
      r.end = std::max(r.end, e.offset + ArenaLayout::padded(e.shape.numel()));
    }
    if (r.end > 0) ranges.push_back(r);
  }
  return ranges;
}

std::vector<int> Graph::consumers(int id) const {
  std::vector<int> out;
  for (int i = id + 1; i < size(); ++i) {
    const auto& in = nodes_[static_cast<size_t>(i)].inputs;
    if (std::find(in.begin(), in.end(), id) != in.end()) out.push_back(i);
  }
  return out;
}

}  // namespace bigbatch::nn
