#include "core/optim/clip.h"

#include <cmath>

#include "core/ops.h"

namespace trainer {

double global_grad_norm(const std::vector<Param*>& params) {
  double sq = 0.0;
  for (const Param* p : params) sq += ops::sum_squares(p->grad);
  return std::sqrt(sq);
}

void clip_to_norm(const std::vector<Param*>& params, double norm, double max_norm) {
  if (norm <= max_norm) return;
  const float factor = static_cast<float>(max_norm / (norm + 1e-6));
  for (Param* p : params) ops::scale(p->grad, factor);
}

}  // namespace trainer
