// Fused optimizer updates over one flat parameter buffer (PyTorch's update rules).
#pragma once

#include <cfloat>
#include <cmath>
#include <cstdint>

#include "core/host_device.h"

namespace trainer::cpu {

// What a training step decided about its update, computed where the update runs: on a GPU by a
// kernel into device memory, so the host queues the whole step without waiting for it (and a
// CUDA graph can hold the whole step). The update is skipped when a loss or a gradient is not
// finite; otherwise the gradients are multiplied by `unscale` (the loss scale off), then by
// `clip`, each a pass over them, and the update reads them.
struct UpdateDecision {
  double sq = 0.0;         // the gradients' squared norm, with their loss scale
  double grad_norm = 0.0;  // the norm without it
  float unscale = 1.0f, clip = 1.0f;
  int32_t skip = 0;
  int32_t loss_finite = 1;
  // The step's loss sums {loss, correct} beside it, so that one read-back brings both.
  double loss_sums[2] = {0.0, 0.0};
};

// The decision from the squared norm `sq` of gradients that carry a loss scale of 1 / unscale
// and the loss `loss`: clipped to max_norm (0: not clipped). Finite means at most DBL_MAX in
// size, so a NaN is not.
TRAINER_HD inline UpdateDecision update_decision(double sq, double loss, double unscale,
                                                 double max_norm) {
  UpdateDecision d;
  d.sq = sq;
  d.loss_finite = loss <= DBL_MAX && loss >= -DBL_MAX;
  d.grad_norm = sqrt(sq) * unscale;
  d.skip = !(d.loss_finite && sq <= DBL_MAX);
  if (d.skip) return d;
  d.unscale = static_cast<float>(unscale);
  if (max_norm > 0.0 && d.grad_norm > max_norm)
    d.clip = static_cast<float>(max_norm / (d.grad_norm + 1e-6));
  return d;
}

// The decision from the squared norm `sq` and the step's loss sums, which it carries.
TRAINER_HD inline UpdateDecision update_decision_with(double sq, const double* loss_sums,
                                                      double unscale, double max_norm) {
  UpdateDecision d = update_decision(sq, loss_sums[0], unscale, max_norm);
  d.loss_sums[0] = loss_sums[0];
  d.loss_sums[1] = loss_sums[1];
  return d;
}

// *out = update_decision_with the sum of squares (in double) of n gradients `g`.
void decide_update(int64_t n, const float* g, const double* loss_sums, double unscale,
                   double max_norm, UpdateDecision* out);

struct SgdArgs {
  float lr, momentum, weight_decay;
  bool nesterov;
  bool first_step;  // momentum buffer starts as the first gradient, as in PyTorch
};
// w, g, buf: n floats
void sgd_update(int64_t n, float* w, const float* g, float* buf, const SgdArgs& a);

struct AdamArgs {
  float lr, beta1, beta2, eps, weight_decay;
  bool decoupled;  // AdamW: decay the weights directly instead of adding wd*w to the gradient
  int64_t step;    // 1-based, for bias correction
};
void adam_update(int64_t n, float* w, const float* g, float* m, float* v, const AdamArgs& a);

// Adam's per-step constants, bias corrections folded in: shared by the CPU and GPU updates so
// the two apply the same arithmetic.
struct AdamConstants {
  float step_size, inv_sqrt_bc2, decay, l2, beta1, beta2, eps;
};
AdamConstants adam_constants(const AdamArgs& a);

}  // namespace trainer::cpu
