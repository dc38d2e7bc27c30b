// The model registry and the ResNets' structure: parameter counts, torchvision state-dict
// names and shapes (fixtures from make_torchvision_fixture.py), FLOPs and errors.
#include "bigbatch/models/registry.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "bigbatch/core/error.h"

namespace bigbatch::models {
namespace {

nn::Graph imagenet(const std::string& name) { return build_model({name, 3, 224, 224, 1000}); }

TEST(Models, ParameterCountsMatchTorchvision) {
  EXPECT_EQ(imagenet("resnet18").parameter_layout()->count(), 11689512);
  EXPECT_EQ(imagenet("resnet34").parameter_layout()->count(), 21797672);
  EXPECT_EQ(imagenet("resnet50").parameter_layout()->count(), 25557032);
  EXPECT_EQ(imagenet("resnet101").parameter_layout()->count(), 44549160);
  EXPECT_EQ(imagenet("resnet152").parameter_layout()->count(), 60192808);
  EXPECT_EQ(build_model({"resnet20", 1, 28, 28, 10}).parameter_layout()->count(), 272186);
  EXPECT_EQ(build_model({"inception_v3", 3, 299, 299, 1000}).parameter_layout()->count(), 27161264);
  EXPECT_EQ(build_model({"inception_v3_noaux", 3, 299, 299, 1000}).parameter_layout()->count(), 23834568);
}

struct FixtureEntry {
  std::string name;
  Shape shape;
};

// Reads "param|buffer <name> <dims...>" lines; '#' lines are comments.
void read_fixture(const std::string& model, std::vector<FixtureEntry>& params, std::vector<FixtureEntry>& buffers) {
  const std::string path = std::string(BIGBATCH_FIXTURE_DIR) + "/" + model + "_state_dict.txt";
  std::ifstream in(path);
  ASSERT_TRUE(in) << "cannot open " << path;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string kind, name;
    fields >> kind >> name;
    std::vector<int64_t> dims;
    for (int64_t d; fields >> d;) dims.push_back(d);
    (kind == "param" ? params : buffers).push_back({name, Shape(dims)});
  }
}

void expect_layout_equals(const ArenaLayout& layout, const std::vector<FixtureEntry>& expected) {
  ASSERT_EQ(layout.size(), static_cast<int>(expected.size()));
  for (int i = 0; i < layout.size(); ++i) {
    EXPECT_EQ(layout.entry(i).name, expected[static_cast<size_t>(i)].name) << "entry " << i;
    EXPECT_EQ(layout.entry(i).shape, expected[static_cast<size_t>(i)].shape) << layout.entry(i).name;
  }
}

TEST(Models, StateDictNamesShapesAndOrderMatchTorchvision) {
  for (const char* model : {"resnet18", "resnet50"}) {
    SCOPED_TRACE(model);
    std::vector<FixtureEntry> params, buffers;
    read_fixture(model, params, buffers);
    const nn::Graph g = imagenet(model);
    expect_layout_equals(*g.parameter_layout(), params);
    expect_layout_equals(*g.buffer_layout(), buffers);
  }
}

TEST(Models, InceptionV3StateDictMatchesTorchvision) {
  std::vector<FixtureEntry> params, buffers;
  read_fixture("inception_v3", params, buffers);
  const nn::Graph g = build_model({"inception_v3", 3, 299, 299, 1000});
  expect_layout_equals(*g.parameter_layout(), params);
  expect_layout_equals(*g.buffer_layout(), buffers);
  // Without the auxiliary head: the same entries less AuxLogits.*.
  std::erase_if(params, [](const FixtureEntry& e) { return e.name.starts_with("AuxLogits."); });
  std::erase_if(buffers, [](const FixtureEntry& e) { return e.name.starts_with("AuxLogits."); });
  const nn::Graph noaux = build_model({"inception_v3_noaux", 3, 299, 299, 1000});
  expect_layout_equals(*noaux.parameter_layout(), params);
  expect_layout_equals(*noaux.buffer_layout(), buffers);
}

TEST(Models, InceptionV3Structure) {
  const nn::Graph g = build_model({"inception_v3", 3, 299, 299, 1000});
  // 5.719 GMACs per 299² example with the auxiliary head, as training runs it (forward hooks
  // on torchvision's inception_v3 in train mode; 5.713 G in eval mode, without it).
  EXPECT_EQ(g.forward_flops_per_example(), 2 * int64_t{5718899296});
  ASSERT_EQ(g.heads().size(), 2u);
  EXPECT_EQ(g.node(g.heads()[0].node).name, "fc");
  EXPECT_EQ(g.node(g.heads()[1].node).name, "AuxLogits.fc");
  EXPECT_EQ(g.num_classes(), 1000);
  EXPECT_EQ(g.output_columns(), 2000);
  int dropouts = 0, counted_padding = 0;
  for (const nn::Node& n : g.nodes()) {
    if (n.kind == nn::OpKind::batch_norm) {
      EXPECT_EQ(std::get<ops::BatchNormParams>(n.params).eps, 0.001) << n.name;
      EXPECT_TRUE(n.fuse_relu) << n.name;
    }
    if (n.kind == nn::OpKind::conv2d) {
      EXPECT_EQ(n.init_stddev, 0.1) << n.name;
    }
    if (n.kind == nn::OpKind::dropout) {
      ++dropouts;
      EXPECT_EQ(std::get<ops::DropoutParams>(n.params).p, 0.5);
    }
    if (n.kind == nn::OpKind::avg_pool && !std::get<ops::PoolParams>(n.params).exclude_padding) ++counted_padding;
    if (n.name == "Mixed_6b.branch7x7_2.conv") {
      const auto& p = std::get<ops::Conv2dParams>(n.params);
      EXPECT_EQ(p.kernel_h, 1);
      EXPECT_EQ(p.kernel_w, 7);
      EXPECT_EQ(p.pad_w, 3);
      EXPECT_EQ(n.h, 17);
    }
    if (n.name == "Mixed_7c.branch_pool.bn") {
      EXPECT_EQ(n.h, 8);
    }
  }
  EXPECT_EQ(dropouts, 1);
  EXPECT_EQ(counted_padding, 9 + 1);  // Mixed_5b..7c's branch_pool, and the aux head's 5x5/3
  EXPECT_EQ(g.node(g.heads()[1].node).init_stddev, 0.001);
  const nn::Graph noaux = build_model({"inception_v3_noaux", 3, 299, 299, 10});
  EXPECT_EQ(noaux.heads().size(), 1u);
  EXPECT_EQ(noaux.output_columns(), 10);
  // The smallest inputs, and one clear error below them.
  EXPECT_NO_THROW(build_model({"inception_v3_noaux", 3, 75, 75, 10}));
  EXPECT_THROW(build_model({"inception_v3", 3, 298, 299, 10}), InvalidArgument);
  try {
    build_model({"inception_v3", 1, 28, 28, 10});
    ADD_FAILURE() << "no error for a 28x28 input";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("inception_v3 needs an input of at least 299x299"), std::string::npos)
        << e.what();
  }
}

TEST(Models, Resnet50ForwardFlops) {
  // 4.09 GMACs per 224² example (counted with forward hooks on torchvision's resnet50).
  EXPECT_EQ(imagenet("resnet50").forward_flops_per_example(), 2 * int64_t{4089184256});
}

TEST(Models, CifarResnetStructure) {
  const nn::Graph g = build_model({"resnet8", 3, 32, 32, 10});
  const ArenaLayout& p = *g.parameter_layout();
  EXPECT_EQ(p.entry(0).name, "conv1.weight");
  EXPECT_EQ(p.entry(0).shape, Shape({16, 3, 3, 3}));
  EXPECT_EQ(p.find("layer1.0.downsample.0.weight"), -1);
  EXPECT_EQ(p.entry(p.find("layer2.0.downsample.0.weight")).shape, Shape({32, 16, 1, 1}));
  EXPECT_EQ(p.entry(p.find("layer3.0.conv1.weight")).shape, Shape({64, 32, 3, 3}));
  EXPECT_GE(p.find("layer3.0.downsample.1.bias"), 0);
  EXPECT_EQ(p.entry(p.size() - 2).name, "fc.weight");
  EXPECT_EQ(p.entry(p.size() - 2).shape, Shape({10, 64}));
  EXPECT_EQ(g.num_classes(), 10);
  int adds = 0;
  for (const nn::Node& n : g.nodes()) {
    EXPECT_NE(n.kind, nn::OpKind::max_pool);
    if (n.kind == nn::OpKind::add) {
      ++adds;
      EXPECT_TRUE(n.fuse_relu);
    }
    if (n.kind == nn::OpKind::batch_norm) {
      const bool last = n.name.ends_with(".bn2");
      EXPECT_EQ(n.last_bn_in_block, last) << n.name;
      EXPECT_EQ(n.fuse_relu, n.name == "bn1" || n.name.ends_with(".bn1")) << n.name;
    }
    if (n.name == "layer3.0.conv1") {
      EXPECT_EQ(n.h, 8);
    }
  }
  EXPECT_EQ(adds, 3);
  EXPECT_EQ(build_model({"resnet110"}).parameter_layout()->find("layer3.17.bn2.weight") >= 0, true);
}

TEST(Models, ImagenetResnetStructure) {
  const nn::Graph g = imagenet("resnet50");
  for (const nn::Node& n : g.nodes()) {
    if (n.kind == nn::OpKind::batch_norm) {
      EXPECT_EQ(n.last_bn_in_block, n.name.ends_with(".bn3")) << n.name;
    }
    if (n.name == "layer4.2.conv3") {
      EXPECT_EQ(n.c, 2048);
      EXPECT_EQ(n.h, 7);
    }
    if (n.name == "layer2.0.conv2") {
      EXPECT_EQ(std::get<ops::Conv2dParams>(n.params).stride_h, 2);  // v1.5
    }
    if (n.name == "layer2.0.conv1") {
      EXPECT_EQ(std::get<ops::Conv2dParams>(n.params).stride_h, 1);
    }
  }
  const nn::Graph r18 = imagenet("resnet18");
  EXPECT_EQ(r18.parameter_layout()->find("layer1.0.downsample.0.weight"), -1);
  for (const nn::Node& n : r18.nodes())
    if (n.kind == nn::OpKind::batch_norm) {
      EXPECT_EQ(n.last_bn_in_block, n.name.ends_with(".bn2")) << n.name;
    }
  // Small inputs still build: 32² shrinks to 1² in layer4.
  EXPECT_EQ(build_model({"resnet50", 3, 32, 32, 10}).node(build_model({"resnet50"}).output()).c, 10);
}

TEST(Models, NamesDescriptionsAndErrors) {
  const std::vector<std::string> names = model_names();
  EXPECT_EQ(names.size(), 14u);
  for (const std::string& name : names) EXPECT_FALSE(model_description(name).empty()) << name;
  try {
    build_model({"resnet9"});
    ADD_FAILURE() << "no error for an unknown model";
  } catch (const InvalidArgument& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("[models] unknown model 'resnet9'; known: resnet8, resnet14", 0), 0u) << what;
  }
  EXPECT_THROW(model_description("vgg16"), InvalidArgument);
  EXPECT_THROW(build_model({"resnet20", 3, 32, 32, 0}), InvalidArgument);
  EXPECT_THROW(build_model({"resnet20", 3, 0, 32, 10}), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::models
