// Elementwise kernels on the GPU: the twins of core/cpu/elementwise.h, same arguments, device
// pointers. Queued on the compute stream; sum_squares returns its value (and so synchronises).
#pragma once

#include <cstdint>

#include "core/cpu/elementwise.h"

namespace trainer::cuda {

using cpu::Activation;

void fill(int64_t n, float value, float* x);
void activation_forward(Activation f, int64_t n, const float* x, float* y);
void activation_backward(Activation f, int64_t n, const float* saved, const float* dy, float* dx);
// db(cols) += sum over rows of dy(rows, cols)
void sum_rows(int64_t rows, int64_t cols, const float* dy, float* db);
void add(int64_t n, const float* a, const float* b, float* y);
void dropout(int64_t N, int64_t per, const cpu::DropoutMask& mask, const float* x, float* y);

// The same on fp16 or bf16 tensors (`bf16` chooses), read and written in 16 bits, computed in
// float: what the CPU computes through float copies, to one rounding.
void activation_forward_16(bool bf16, Activation f, int64_t n, const void* x, void* y);
void activation_backward_16(bool bf16, Activation f, int64_t n, const void* saved, const void* dy,
                            void* dx);
void add_16(bool bf16, int64_t n, const void* a, const void* b, void* y);
double sum_squares(int64_t n, const float* x);
// Block b's sum of squares into partial[b], for b < blocks_for(n) (n > 0); nothing waits.
void sum_squares_partials(int64_t n, const float* x, double* partial);
void scale_by(int64_t n, const float* alpha, float* x);

}  // namespace trainer::cuda
