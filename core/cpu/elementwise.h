// Elementwise kernels: activations, bias, dropout, reductions.
#pragma once

#include <cstdint>

#include "core/cpu/dropout_mask.h"

namespace trainer::cpu {

// GELU is the exact (erf) form, GELUTanh the tanh approximation of GPT-2.
enum class Activation { ReLU, GELU, GELUTanh, Tanh, Sigmoid };

// y = f(x)
void activation_forward(Activation f, int64_t n, const float* x, float* y);
// dx = dy * f'(.), from the saved tensor: the output y for ReLU/Tanh/Sigmoid, the input x for GELU
// and GELUTanh
void activation_backward(Activation f, int64_t n, const float* saved, const float* dy, float* dx);

// y(rows, cols) += bias(cols)
void add_bias_rows(int64_t rows, int64_t cols, const float* bias, float* y);
// db(cols) += sum over rows of dy(rows, cols)
void sum_rows(int64_t rows, int64_t cols, const float* dy, float* db);

// y = a + b (the residual connection)
void add(int64_t n, const float* a, const float* b, float* y);

// y = x times the mask (dropout_mask.h) of N samples of `per` elements; forward and backward
// (dy to dx) alike.
void dropout(int64_t N, int64_t per, const DropoutMask& mask, const float* x, float* y);

// sum of squares, accumulated in double
double sum_squares(int64_t n, const float* x);
// x *= *alpha: the factor read where x is (a GPU kernel's from device memory), when the pass runs
void scale_by(int64_t n, const float* alpha, float* x);

}  // namespace trainer::cpu
