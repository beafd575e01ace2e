// One registry of layer types: the config's `type:` key picks a factory here.
//
// Adding a layer is adding its file and one line in registry.cpp.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/args.h"
#include "core/layers/layer.h"

namespace trainer {

using LayerFactory =
    std::function<std::unique_ptr<Layer>(Args& args, const Shape& input, const InitContext& ctx)>;

// nullptr when no layer has this type.
const LayerFactory* find_layer_factory(const std::string& type);
std::vector<std::string> layer_types();

}  // namespace trainer
