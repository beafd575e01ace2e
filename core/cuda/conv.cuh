// 2-D convolution on the GPU through cuDNN: the twin of core/cpu/conv.h.
//
// For each shape the algorithms are chosen once, by running cuDNN's candidates (as PyTorch's
// cudnn.benchmark does), among the deterministic ones only: the same run gives the same numbers.
// A direct (implicit-GEMM) algorithm is preferred; FFT or Winograd only where it is clearly
// faster, since its rounding error is larger.
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

// Whether the algorithms chosen for this shape include an FFT or Winograd one (tests set their
// tolerance from it).
bool conv2d_uses_transforms(const ConvGeometry& g, int64_t N, int64_t OC);

}  // namespace trainer::cuda
