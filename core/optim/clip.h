// Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_).
#pragma once

#include <vector>

#include "core/layers/layer.h"

namespace trainer {

// The L2 norm over all gradients taken together.
double global_grad_norm(const std::vector<Param*>& params);
// Scales all gradients by max_norm / (norm + 1e-6) when norm exceeds max_norm.
void clip_to_norm(const std::vector<Param*>& params, double norm, double max_norm);

}  // namespace trainer
