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

void sgd_update(const ParamGroup& p, const cpu::SgdArgs& a);
void adam_update(const ParamGroup& p, const cpu::AdamArgs& a);

}  // namespace trainer::cuda
