// Models by name: every network bigbatch can train, built as a Graph for a given input
// size and number of classes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bigbatch/nn/graph.h"

namespace bigbatch::models {

struct ModelSpec {
  std::string name;
  int64_t in_channels = 3, height = 32, width = 32, num_classes = 10;
  double dropout = 0.5;  // inception_v3: the dropout before fc (torchvision's `dropout`)
};

// Throws InvalidArgument "[models] unknown model 'x'; known: ..." for an unknown name, or a
// "[graph]" error when the input is too small for the network.
nn::Graph build_model(const ModelSpec& spec);
// Every known name, in a fixed order (CIFAR-style first, then ImageNet-style).
std::vector<std::string> model_names();
// The input and classes a model is usually run at: 3x224x224 and 1000 for the ImageNet ResNets,
// 3x299x299 and 1000 for Inception-v3, 1x28x28 and 10 (Fashion-MNIST) for the CIFAR-style
// ResNets, and for a name it does not know (which build_model then rejects).
ModelSpec usual_spec(const std::string& name);
// The crop JPEG datasets default to for the model: ImageNet's 224, or its usual input where that
// is larger (299 for Inception-v3, whose maps vanish below it).
int64_t usual_image_size(const std::string& name);
// One line about the model; throws like build_model for an unknown name.
std::string model_description(const std::string& name);

}  // namespace bigbatch::models
