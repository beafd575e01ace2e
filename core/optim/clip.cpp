#include "core/optim/clip.h"

#include "core/ops.h"

namespace trainer {

double grad_sum_squares(const Tensor& grads) { return ops::sum_squares(grads); }

}  // namespace trainer
