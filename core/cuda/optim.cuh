// Fused optimizer updates on the GPU: the twins of core/cpu/optim.h, over many parameters in
// one launch per kMaxTensors of them (a small model has a handful of launches per step, not one
// per parameter and state).
#pragma once

#include <cstdint>
#include <vector>

#include "core/cpu/optim.h"

namespace trainer::cuda {

// Parameters updated together: element counts and device pointers, one entry per parameter.
// `state1` is SGD's momentum buffer (null entries: no momentum) or Adam's m; `state2` Adam's v.
struct ParamGroup {
  std::vector<int64_t> n;
  std::vector<float*> w;
  std::vector<const float*> g;
  std::vector<float*> state1, state2;
};

// The step's hyper-parameters are read from device memory (`a`, `k`) when the update runs, as is
// `skip` (null: never skip): a CUDA graph that holds the update replays it with each step's.
void sgd_update(const ParamGroup& p, const cpu::SgdArgs* a, const int32_t* skip);
void adam_update(const ParamGroup& p, const cpu::AdamConstants* k, const int32_t* skip);

// *out (device memory) = cpu::decide_update of the n gradients g (their sum of squares in double,
// its partial sums added in a fixed order) and the loss sums (device memory).
void decide_update(int64_t n, const float* g, const double* loss_sums, double unscale,
                   double max_norm, cpu::UpdateDecision* out);

}  // namespace trainer::cuda
