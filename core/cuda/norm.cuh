// Layer normalisation on the GPU: the twin of core/cpu/norm.h (same signatures, same formulas).
#pragma once

#include <cstdint>

namespace trainer::cuda {

void layer_norm_forward(int64_t R, int64_t C, const float* x, const float* w, const float* b,
                        float* y, float* mean, float* rstd);
void layer_norm_backward(int64_t R, int64_t C, const float* x, const float* w, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dw, float* db);

// The same with x, w, b, y, dy and dx in fp16 or bf16 (`bf16` chooses), computed in float; mean,
// rstd, dw and db float.
void layer_norm_forward_16(bool bf16, int64_t R, int64_t C, const void* x, const void* w,
                           const void* b, void* y, float* mean, float* rstd);
void layer_norm_backward_16(bool bf16, int64_t R, int64_t C, const void* x, const void* w,
                            const float* mean, const float* rstd, const void* dy, void* dx,
                            float* dw, float* db);

}  // namespace trainer::cuda
