// Layer normalisation on the GPU: the twin of core/cpu/norm.h (same signatures, same formulas).
#pragma once

#include <cstdint>

namespace trainer::cuda {

void layer_norm_forward(int64_t R, int64_t C, const float* x, const float* w, const float* b,
                        float* y, float* mean, float* rstd);
void layer_norm_backward(int64_t R, int64_t C, const float* x, const float* w, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dw, float* db);

}  // namespace trainer::cuda
