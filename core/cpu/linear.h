// Fully connected layer kernels: GEMMs over row ranges of the batch.
#pragma once

#include <cstdint>

namespace trainer::cpu {

// y(N, out) = x(N, in) w(out, in)ᵀ + b(out); b may be null
void linear_forward(int64_t N, int64_t in, int64_t out, const float* x, const float* w,
                    const float* b, float* y);
// dw(out, in) += dyᵀ x; db(out) += Σ dy (when non-null); dx(N, in) = dy w (when non-null).
// dw null: dx alone (x and db are not read).
void linear_backward(int64_t N, int64_t in, int64_t out, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db);

}  // namespace trainer::cpu
