// Inception-v3 exactly as torchvision's inception_v3 (transform_input off): its modules, its
// state-dict names (Conv2d_1a_3x3.conv.weight, Mixed_6b.branch7x7_2.bn.running_var,
// AuxLogits.fc.weight, fc.weight, ...), BN ε = 0.001, average pools that count their padding,
// dropout (spec.dropout, 0.5) before fc, and its initialisation. Input 3×299×299 for ImageNet.
#pragma once

#include "bigbatch/models/registry.h"

namespace bigbatch::models {

// aux: the auxiliary classifier on Mixed_6e (27,161,264 parameters at 1000 classes; without
// it 23,834,568). Its logits are the graph's second head, trained with a weighted loss.
nn::Graph inception_v3(const ModelSpec& spec, bool aux);

}  // namespace bigbatch::models
