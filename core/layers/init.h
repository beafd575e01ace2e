// Initial weights, as the common frameworks draw them.
#pragma once

#include <cstdint>

#include "core/layers/registry.h"

namespace trainer {

enum class InitScheme {
  Default,  // PyTorch's nn.Linear/Conv2d: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)), same
            // for bias
  He,       // Kaiming normal for ReLU nets: N(0, 2/fan_in), zero bias
  Xavier,   // Glorot uniform: U(+-sqrt(6/(fan_in+fan_out))), zero bias
};

// The optional `init:` key of a layer with weights (default, he, xavier).
InitScheme init_scheme_arg(Args& args);

// Fills weight and bias (bias may be undefined) from a stream keyed by the layer (seed, ctx.key()).
void init_parameters(InitScheme scheme, const InitContext& ctx, int64_t fan_in, int64_t fan_out,
                     Tensor& weight, Tensor* bias);

// Fills t with N(0, stddev^2) from a stream keyed by (seed, entry, path of the parameter): one
// stream per parameter, as GPT-2's initialisation draws them. A tensor-parallel slice (`split`)
// gets its part of the whole parameter's values, so every layout starts from the same model.
void init_normal(const InitContext& ctx, const char* param, float stddev, Tensor& t,
                 const ParamSplit& split = {});

}  // namespace trainer
