// 2-D convolution on the GPU through cuDNN: the twin of core/cpu/conv.h.
//
// For each shape the algorithms are chosen once, by running cuDNN's candidates (as PyTorch's
// cudnn.benchmark does), among the deterministic ones only: the same run gives the same numbers.
// A direct (implicit-GEMM) algorithm is preferred; FFT or Winograd only where it is clearly
// faster, since its rounding error is larger.
// fp32 tensors use FMA math only (no TF32), as on the CPU; fp16 / bf16 tensors run on the tensor
// cores in their own type with float accumulation. Workspaces come from the caching allocator.
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

// The same on fp16 or bf16 tensors (`bf16` chooses): x, w, b, y, dy, dx in 16 bits, one rounding
// of y and dx; dw and db are the float master gradients (cuDNN writes the weight gradient in 16
// bits, then it is added in float, as under PyTorch's autocast; the bias gradient is a float
// column sum of dy).
void conv2d_forward_16(bool bf16, const ConvGeometry& g, int64_t N, int64_t OC, const void* x,
                       const void* w, const void* b, void* y);
void conv2d_backward_16(bool bf16, const ConvGeometry& g, int64_t N, int64_t OC, const void* x,
                        const void* w, const void* dy, void* dx, float* dw, float* db);

enum class ConvType { F32, F16, BF16 };

// Whether the algorithms chosen for this shape include an FFT or Winograd one (tests set their
// tolerance from it).
bool conv2d_uses_transforms(const ConvGeometry& g, int64_t N, int64_t OC,
                            ConvType type = ConvType::F32);

}  // namespace trainer::cuda
