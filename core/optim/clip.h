// The gradients' global norm (torch.nn.utils.clip_grad_norm_'s), over the model's flat gradient
// buffer (Model::flat_grads): one pass, however many parameters there are. The clip itself is
// the step's update decision's (cpu::update_decision).
#pragma once

#include "core/tensor.h"

namespace trainer {

// The sum of squares over all gradients taken together (the square of their global L2 norm);
// not finite when some gradient is not, which is how non-finite gradients and loss-scaling
// overflows are found. The buffer's alignment gaps are zero and add nothing.
double grad_sum_squares(const Tensor& grads);

}  // namespace trainer
