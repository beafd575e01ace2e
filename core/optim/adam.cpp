#include "core/optim/adam.h"

#include "core/cpu/optim.h"

namespace trainer {

Adam::Adam(std::vector<Param*> params, float beta1, float beta2, float eps, float weight_decay,
           bool decoupled)
    : Optimizer(std::move(params)),
      beta1_(beta1),
      beta2_(beta2),
      eps_(eps),
      weight_decay_(weight_decay),
      decoupled_(decoupled) {
  m_ = make_state("exp_avg");
  v_ = make_state("exp_avg_sq");
}

template <bool Decoupled>
std::unique_ptr<Optimizer> Adam::create(Args& args, std::vector<Param*> params) {
  const double beta1 = args.number("beta1", 0.9, 0.0, 1.0);
  const double beta2 = args.number("beta2", 0.999, 0.0, 1.0);
  const double eps = args.number("eps", 1e-8, 0.0, 1.0);
  // AdamW's customary default decay is 0.01 (PyTorch); Adam's is none.
  const double wd = args.number("weight_decay", Decoupled ? 0.01 : 0.0, 0.0, 1e9);
  return std::make_unique<Adam>(std::move(params), static_cast<float>(beta1),
                                static_cast<float>(beta2), static_cast<float>(eps),
                                static_cast<float>(wd), Decoupled);
}
template std::unique_ptr<Optimizer> Adam::create<false>(Args&, std::vector<Param*>);
template std::unique_ptr<Optimizer> Adam::create<true>(Args&, std::vector<Param*>);

void Adam::prepare(float lr) {
  args_ = {lr, beta1_, beta2_, eps_, weight_decay_, decoupled_, steps_ + 1};
#ifdef TRAINER_HAS_CUDA
  if (on_gpu()) device_constants_ = put_constants(cpu::adam_constants(args_));
#endif
}

void Adam::apply(const int32_t* skip) {
#ifdef TRAINER_HAS_CUDA
  if (on_gpu()) return cuda::adam_update(param_group(m_, v_), device_constants_, skip);
#endif
  if (skip && *skip) return;
  for (size_t i = 0; i < params_.size(); ++i) {
    Param& p = *params_[i];
    cpu::adam_update(p.value.numel(), p.value.f32(), p.grad.f32(), m_[i].f32(), v_[i].f32(), args_);
  }
}

std::vector<std::pair<std::string, Tensor*>> Adam::state() {
  std::vector<std::pair<std::string, Tensor*>> s;
  for (size_t i = 0; i < params_.size(); ++i) {
    s.emplace_back(params_[i]->name + ".exp_avg", &m_[i]);
    s.emplace_back(params_[i]->name + ".exp_avg_sq", &v_[i]);
  }
  return s;
}

}  // namespace trainer
