// Loss kernels on the GPU: the twins of core/cpu/loss.h, adding into totals in device memory;
// nothing waits for the device.
#pragma once

#include <cstdint>

#include "core/cpu/loss.h"

namespace trainer::cuda {

void softmax_cross_entropy(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                           float grad_scale, float* dlogits, double* totals);
// The same with logits and dlogits in fp16 or bf16 (`bf16` chooses), computed in float and
// double as above; vocabulary-wide rows are read and written in 16 bits.
void softmax_cross_entropy_16(bool bf16, int64_t N, int64_t C, const void* logits,
                              const int32_t* labels, float grad_scale, void* dlogits,
                              double* totals);
void mse_onehot(int64_t N, int64_t C, const float* logits, const int32_t* labels, float grad_scale,
                float* dlogits, double* totals);
void split_ce_max_target(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                         int64_t begin, float* row_max, float* target);
void split_ce_sum_exp(int64_t N, int64_t C, const float* logits, const float* row_max,
                      float* sum_exp);
void split_ce_loss(int64_t N, int64_t C, const float* logits, const int32_t* labels, int64_t begin,
                   const float* row_max, const float* sum_exp, const float* target,
                   float grad_scale, float* dlogits, double* totals);

}  // namespace trainer::cuda
