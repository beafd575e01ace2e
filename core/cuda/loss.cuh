// Loss kernels on the GPU: the twins of core/cpu/loss.h. The sums come back to the host (the
// call synchronises); dlogits stays on the device.
#pragma once

#include <cstdint>

#include "core/cpu/loss.h"

namespace trainer::cuda {

using cpu::LossSums;

LossSums softmax_cross_entropy(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                               float grad_scale, float* dlogits);
LossSums mse_onehot(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                    float grad_scale, float* dlogits);
void split_ce_max_target(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                         int64_t begin, float* row_max, float* target);
void split_ce_sum_exp(int64_t N, int64_t C, const float* logits, const float* row_max,
                      float* sum_exp);
LossSums split_ce_loss(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                       int64_t begin, const float* row_max, const float* sum_exp,
                       const float* target, float grad_scale, float* dlogits);

}  // namespace trainer::cuda
