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
};

// Throws InvalidArgument "[models] unknown model 'x'; known: ..." for an unknown name, or a
// "[graph]" error when the input is too small for the network.
nn::Graph build_model(const ModelSpec& spec);
// Every known name, in a fixed order (CIFAR-style first, then ImageNet-style).
std::vector<std::string> model_names();
// One line about the model; throws like build_model for an unknown name.
std::string model_description(const std::string& name);

}  // namespace bigbatch::models
