// Loss kernels on the GPU: the twins of core/cpu/loss.h, adding into totals in device memory;
// nothing waits for the device.
#pragma once

#include <cstdint>

#include "core/cpu/loss.h"

namespace trainer::cuda {

void softmax_cross_entropy(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                           float grad_scale, float* dlogits, double* totals);
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
