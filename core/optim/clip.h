// Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_), over the model's flat gradient
// buffer (Model::flat_grads): one pass each, however many parameters there are, and on a GPU
// one small read-back per step instead of one per parameter.
#pragma once

#include "core/tensor.h"

namespace trainer {

// The sum of squares over all gradients taken together (the square of their global L2 norm);
// not finite when some gradient is not, which is how non-finite gradients and loss-scaling
// overflows are found. The buffer's alignment gaps are zero and add nothing.
double grad_sum_squares(const Tensor& grads);
// Scales all gradients by max_norm / (norm + 1e-6) when norm exceeds max_norm.
void clip_to_norm(Tensor grads, double norm, double max_norm);

}  // namespace trainer
