// Layer normalisation over the last dimension (rows of C features), as GPT-2 uses it.
#pragma once

#include <cstdint>

namespace trainer::cpu {

constexpr float kLayerNormEps = 1e-5f;  // GPT-2's, PyTorch's default

// y(R, C) = (x - mean) / sqrt(var + eps) * w + b per row; saves each row's mean and 1/std.
void layer_norm_forward(int64_t R, int64_t C, const float* x, const float* w, const float* b,
                        float* y, float* mean, float* rstd);
// dw += Σ dy x̂, db += Σ dy, dx = (dy w - mean(dy w) - x̂ mean(dy w x̂)) / std (dx nullable).
void layer_norm_backward(int64_t R, int64_t C, const float* x, const float* w, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dw, float* db);

}  // namespace trainer::cpu
