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

}  // namespace trainer::cuda
