#include <functional>
#include <map>

#include "core/error.h"
#include "core/optim/adam.h"
#include "core/optim/sgd.h"

namespace trainer {

#ifdef TRAINER_HAS_CUDA
cuda::ParamGroup Optimizer::param_group(std::vector<Tensor>& state1,
                                        std::vector<Tensor>& state2) const {
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

using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(Args&, std::vector<Param*>)>;

static const std::map<std::string, OptimizerFactory>& registry() {
  static const std::map<std::string, OptimizerFactory> r = {
      {"sgd", &Sgd::create},
      {"adam", &Adam::create<false>},
      {"adamw", &Adam::create<true>},
  };
  return r;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& type, Args& args,
                                          std::vector<Param*> params) {
  auto it = registry().find(type);
  if (it == registry().end()) throw InternalError("unknown optimizer " + type);
  return it->second(args, std::move(params));
}

std::vector<std::string> optimizer_types() {
  std::vector<std::string> out;
  for (const auto& [name, _] : registry()) out.push_back(name);
  return out;
}

}  // namespace trainer
