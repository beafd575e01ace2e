#include "core/cpu/optim.h"

#include <cmath>

#include "core/cpu/elementwise.h"
#include "core/cpu/parallel.h"

namespace trainer::cpu {

// Elements per thread in an update: below this a thread costs more than it saves.
constexpr int64_t kGrain = int64_t{1} << 15;

// The hyper-parameters are copied into locals before each loop: read through `a`, they might
// alias w, m or v (floats too) as far as the compiler can tell, and be reloaded every element.

void sgd_update(int64_t n, float* w, const float* g, float* buf, const SgdArgs& a) {
  const float lr = a.lr, wd = a.weight_decay, momentum = a.momentum;
  const bool first = a.first_step, nesterov = a.nesterov;
  parallel_ranges(n, kGrain, [=](int, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float d = g[i] + wd * w[i];
      if (momentum != 0.0f) {
        buf[i] = first ? d : momentum * buf[i] + d;
        d = nesterov ? d + momentum * buf[i] : buf[i];
      }
      w[i] -= lr * d;
    }
  });
}

void decide_update(int64_t n, const float* g, const double* loss_sums, double unscale,
                   double max_norm, UpdateDecision* out) {
  *out = update_decision_with(sum_squares(n, g), loss_sums, unscale, max_norm);
}

AdamConstants adam_constants(const AdamArgs& a) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(a.beta1), static_cast<double>(a.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(a.beta2), static_cast<double>(a.step));
  return {static_cast<float>(a.lr / bc1),
          static_cast<float>(1.0 / std::sqrt(bc2)),
          a.decoupled ? 1.0f - a.lr * a.weight_decay : 1.0f,
          a.decoupled ? 0.0f : a.weight_decay,
          a.beta1,
          a.beta2,
          a.eps};
}

void adam_update(int64_t n, float* w, const float* g, float* m, float* v, const AdamArgs& a) {
  const AdamConstants k = adam_constants(a);
  const float step_size = k.step_size, inv_sqrt_bc2 = k.inv_sqrt_bc2, decay = k.decay, l2 = k.l2;
  const float beta1 = k.beta1, beta2 = k.beta2, eps = k.eps;
  parallel_ranges(n, kGrain, [=](int, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float grad = g[i] + l2 * w[i];
      m[i] = beta1 * m[i] + (1.0f - beta1) * grad;
      v[i] = beta2 * v[i] + (1.0f - beta2) * grad * grad;
      w[i] = w[i] * decay - step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
    }
  });
}

}  // namespace trainer::cpu
