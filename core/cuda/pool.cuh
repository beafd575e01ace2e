// Max pooling on the GPU: the twin of core/cpu/pool.h (argmax kept for backward).
//
// Not cuDNN: cuDNN's pooling backward needs the input and output of forward, where the layer's
// stash keeps only the int32 argmax (half of what x and y would hold). Backward is a gather per
// input element, in the order the CPU's scatter adds: the same sums, bit for bit.
#pragma once

#include <cstdint>

#include "core/cpu/pool.h"

namespace trainer::cuda {

using cpu::PoolGeometry;

void maxpool_forward(const PoolGeometry& g, int64_t planes, const float* x, float* y,
                     int32_t* argmax);
void maxpool_backward(const PoolGeometry& g, int64_t planes, const float* dy, const int32_t* argmax,
                      float* dx);
// The same on fp16 or bf16 x, y, dy and dx (`bf16` chooses), read and written in 16 bits.
void maxpool_forward_16(bool bf16, const PoolGeometry& g, int64_t planes, const void* x, void* y,
                        int32_t* argmax);
void maxpool_backward_16(bool bf16, const PoolGeometry& g, int64_t planes, const void* dy,
                         const int32_t* argmax, void* dx);

}  // namespace trainer::cuda
