// Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_).
#pragma once

#include <vector>

#include "core/layers/layer.h"

namespace trainer {

// The sum of squares over all gradients taken together (the square of their global L2 norm);
// not finite when some gradient is not, which is how loss scaling detects an overflow.
double grad_sum_squares(const std::vector<Param*>& params);
// Scales all gradients by max_norm / (norm + 1e-6) when norm exceeds max_norm.
void clip_to_norm(const std::vector<Param*>& params, double norm, double max_norm);

}  // namespace trainer
