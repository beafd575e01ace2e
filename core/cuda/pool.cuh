// Max pooling on the GPU: the twin of core/cpu/pool.h (argmax kept for backward).
//
// Not cuDNN: cuDNN's pooling backward needs the input and output of forward, where the layer's
// stash keeps only the int32 argmax (half of what x and y would hold, and backward is a scatter).
#pragma once

#include <cstdint>

#include "core/cpu/pool.h"

namespace trainer::cuda {

using cpu::PoolGeometry;

void maxpool_forward(const PoolGeometry& g, int64_t planes, const float* x, float* y,
                     int32_t* argmax);
void maxpool_backward(const PoolGeometry& g, int64_t planes, const float* dy, const int32_t* argmax,
                      float* dx);

}  // namespace trainer::cuda
