// 2-D convolution on the GPU through cuDNN: the twin of core/cpu/conv.h.
//
// For each shape the algorithms are chosen once, by running cuDNN's candidates (as PyTorch's
// cudnn.benchmark does), among the deterministic ones only: the same run gives the same numbers.
// FMA math only (no TF32), as on the CPU. Workspaces come from the caching allocator.
#pragma once

#include <cstdint>

#include "core/cpu/conv.h"

namespace trainer::cuda {

using cpu::ConvGeometry;

// y(N, OC, OH, OW) = conv(x(N, C, H, W), w(OC, C, KH, KW)) + b(OC); b may be null
void conv2d_forward(const ConvGeometry& g, int64_t N, int64_t OC, const float* x, const float* w,
                    const float* b, float* y);
// dw += and db += (accumulating); dx overwritten when non-null.
void conv2d_backward(const ConvGeometry& g, int64_t N, int64_t OC, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db);

}  // namespace trainer::cuda
