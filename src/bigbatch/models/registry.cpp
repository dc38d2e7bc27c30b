// The model table: names, one-line descriptions and builders, in one explicit list.
#include "bigbatch/models/registry.h"

#include <algorithm>

#include "bigbatch/core/error.h"
#include "bigbatch/models/inception_v3.h"
#include "bigbatch/models/resnet_cifar.h"
#include "bigbatch/models/resnet_imagenet.h"

namespace bigbatch::models {

namespace {

enum class Family { cifar, imagenet, inception };

struct Entry {
  const char* name;
  Family family;
  int depth;  // ResNets; Inception: 1 with the auxiliary head, 0 without
  const char* description;
};

// An explicit table rather than self-registering statics (STYLE §4).
constexpr Entry kModels[] = {
    {"resnet8", Family::cifar, 8, "CIFAR-style ResNet-8 (6n+2, n=1), 16/32/64 channels, projection shortcuts"},
    {"resnet14", Family::cifar, 14, "CIFAR-style ResNet-14 (6n+2, n=2), 16/32/64 channels, projection shortcuts"},
    {"resnet20", Family::cifar, 20, "CIFAR-style ResNet-20 (6n+2, n=3), 16/32/64 channels, projection shortcuts"},
    {"resnet32", Family::cifar, 32, "CIFAR-style ResNet-32 (6n+2, n=5), 16/32/64 channels, projection shortcuts"},
    {"resnet44", Family::cifar, 44, "CIFAR-style ResNet-44 (6n+2, n=7), 16/32/64 channels, projection shortcuts"},
    {"resnet56", Family::cifar, 56, "CIFAR-style ResNet-56 (6n+2, n=9), 16/32/64 channels, projection shortcuts"},
    {"resnet110", Family::cifar, 110, "CIFAR-style ResNet-110 (6n+2, n=18), 16/32/64 channels, projection shortcuts"},
    {"resnet18", Family::imagenet, 18, "ImageNet ResNet-18 as torchvision: BasicBlocks [2,2,2,2]"},
    {"resnet34", Family::imagenet, 34, "ImageNet ResNet-34 as torchvision: BasicBlocks [3,4,6,3]"},
    {"resnet50", Family::imagenet, 50, "ImageNet ResNet-50 as torchvision (v1.5): Bottlenecks [3,4,6,3]"},
    {"resnet101", Family::imagenet, 101, "ImageNet ResNet-101 as torchvision (v1.5): Bottlenecks [3,4,23,3]"},
    {"resnet152", Family::imagenet, 152, "ImageNet ResNet-152 as torchvision (v1.5): Bottlenecks [3,8,36,3]"},
    {"inception_v3", Family::inception, 1,
     "Inception-v3 as torchvision (input 3x299x299), with the auxiliary classifier (--aux-loss-weight)"},
    {"inception_v3_noaux", Family::inception, 0,
     "Inception-v3 as torchvision with aux_logits=False (no AuxLogits.* tensors)"},
};

const Entry& find_model(const std::string& name) {
  for (const Entry& e : kModels)
    if (name == e.name) return e;
  std::string known;
  for (const Entry& e : kModels) known += (known.empty() ? "" : ", ") + std::string(e.name);
  BIGBATCH_THROW(InvalidArgument, "[models] unknown model '" << name << "'; known: " << known);
}

}  // namespace

nn::Graph build_model(const ModelSpec& spec) {
  const Entry& e = find_model(spec.name);
  BIGBATCH_CHECK(spec.in_channels > 0 && spec.height > 0 && spec.width > 0 && spec.num_classes > 0,
                 "[models] " << spec.name << ": in_channels, height, width and num_classes must be positive, got "
                             << spec.in_channels << ", " << spec.height << ", " << spec.width << ", "
                             << spec.num_classes);
  switch (e.family) {
    case Family::cifar:
      return resnet_cifar(e.depth, spec);
    case Family::imagenet:
      return resnet_imagenet(e.depth, spec);
    case Family::inception:
      return inception_v3(spec, e.depth == 1);
  }
  BIGBATCH_THROW(InvalidArgument, "[models] unreachable family for '" << spec.name << "'");
}

ModelSpec usual_spec(const std::string& name) {
  for (const Entry& e : kModels) {
    if (name != e.name) continue;
    switch (e.family) {
      case Family::cifar:
        break;
      case Family::imagenet:
        return {name, 3, 224, 224, 1000};
      case Family::inception:
        return {name, 3, 299, 299, 1000};
    }
  }
  return {name, 1, 28, 28, 10};
}

int64_t usual_image_size(const std::string& name) { return std::max<int64_t>(224, usual_spec(name).height); }

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const Entry& e : kModels) names.emplace_back(e.name);
  return names;
}

std::string model_description(const std::string& name) { return find_model(name).description; }

}  // namespace bigbatch::models
