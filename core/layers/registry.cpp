#include "core/layers/registry.h"

#include <map>

#include "core/layers/activation.h"
#include "core/layers/conv2d.h"
#include "core/layers/dropout.h"
#include "core/layers/embedding.h"
#include "core/layers/flatten.h"
#include "core/layers/layer_norm.h"
#include "core/layers/linear.h"
#include "core/layers/lm_head.h"
#include "core/layers/maxpool2d.h"
#include "core/layers/transformer_block.h"

namespace trainer {

static const std::map<std::string, LayerFactory>& registry() {
  static const std::map<std::string, LayerFactory> r = {
      {"linear", &Linear::create},
      {"conv2d", &Conv2d::create},
      {"maxpool2d", &MaxPool2d::create},
      {"relu", &ActivationLayer::create<ops::Activation::ReLU>},
      {"gelu", &ActivationLayer::create<ops::Activation::GELU>},
      {"gelu_tanh", &ActivationLayer::create<ops::Activation::GELUTanh>},
      {"tanh", &ActivationLayer::create<ops::Activation::Tanh>},
      {"sigmoid", &ActivationLayer::create<ops::Activation::Sigmoid>},
      {"flatten", &Flatten::create},
      {"dropout", &Dropout::create},
      {"embedding", &Embedding::create},
      {"layer_norm", &LayerNorm::create},
      {"transformer_block", &make_transformer_block},
      {"lm_head", &LmHead::create},
  };
  return r;
}

const LayerFactory* find_layer_factory(const std::string& type) {
  auto it = registry().find(type);
  return it == registry().end() ? nullptr : &it->second;
}

std::vector<std::string> layer_types() {
  std::vector<std::string> out;
  for (const auto& [name, _] : registry()) out.push_back(name);
  return out;
}

}  // namespace trainer
