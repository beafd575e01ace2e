#include "core/optim/optimizer.h"

namespace trainer {

#ifdef TRAINER_HAS_CUDA
cuda::ParamGroup Optimizer::param_group(const std::vector<Tensor>& state1,
                                        const std::vector<Tensor>& state2) const {
  cuda::ParamGroup group;
  for (size_t i = 0; i < params_.size(); ++i) {
    group.n.push_back(params_[i]->value.numel());
    group.w.push_back(params_[i]->value.f32());
    group.g.push_back(params_[i]->grad.f32());
    if (!state1.empty()) group.state1.push_back(state1[i].f32());
    if (!state2.empty()) group.state2.push_back(state2[i].f32());
  }
  return group;
}
#endif

}  // namespace trainer
