// Fused optimizer updates over one flat parameter buffer (PyTorch's update rules).
#pragma once

#include <cstdint>

namespace trainer::cpu {

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
