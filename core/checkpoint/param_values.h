// Weights from a file into a parameter: what every importer (llm.c's format, safetensors) checks
// before a value reaches the model.
#pragma once

#include <string>

#include "core/layers/layer.h"

namespace trainer {

// Copies `host` (f32, on the host, the parameter's shape) into p's master value; throws
// DataError "<source>: <p's name> holds a non-finite value at element i" instead of starting a
// run from NaN or infinity.
void set_param_value(Param& p, const Tensor& host, const std::string& source);

}  // namespace trainer
