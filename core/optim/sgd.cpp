#include "core/optim/sgd.h"

#include "core/cpu/optim.h"

namespace trainer {

Sgd::Sgd(std::vector<Param*> params, float momentum, float weight_decay, bool nesterov)
    : Optimizer(std::move(params)),
      momentum_(momentum),
      weight_decay_(weight_decay),
      nesterov_(nesterov) {
  if (momentum_ != 0.0f) momentum_buf_ = make_state("momentum");
}

std::unique_ptr<Optimizer> Sgd::create(Args& args, std::vector<Param*> params) {
  const double momentum = args.number("momentum", 0.0, 0.0, 1.0);
  const double wd = args.number("weight_decay", 0.0, 0.0, 1e9);
  const bool nesterov = args.boolean("nesterov", false);
  if (nesterov && momentum == 0.0) args.fail("nesterov", "nesterov needs a momentum above 0");
  return std::make_unique<Sgd>(std::move(params), static_cast<float>(momentum),
                               static_cast<float>(wd), nesterov);
}

void Sgd::prepare(float lr) {
  args_ = {lr, momentum_, weight_decay_, nesterov_, steps_ == 0};
#ifdef TRAINER_HAS_CUDA
  if (on_gpu()) device_args_ = put_constants(args_);
#endif
}

void Sgd::apply(const int32_t* skip) {
#ifdef TRAINER_HAS_CUDA
  if (on_gpu()) return cuda::sgd_update(param_group(momentum_buf_), device_args_, skip);
#endif
  if (skip && *skip) return;
  for (size_t i = 0; i < params_.size(); ++i) {
    Param& p = *params_[i];
    cpu::sgd_update(p.value.numel(), p.value.f32(), p.grad.f32(),
                    momentum_buf_.empty() ? nullptr : momentum_buf_[i].f32(), args_);
  }
}

std::vector<std::pair<std::string, Tensor*>> Sgd::state() {
  std::vector<std::pair<std::string, Tensor*>> s;
  for (size_t i = 0; i < momentum_buf_.size(); ++i)
    s.emplace_back(params_[i]->name + ".momentum", &momentum_buf_[i]);
  return s;
}

}  // namespace trainer
