// Adam (L2 decay added to the gradient) and AdamW (decoupled decay), as in PyTorch.
#pragma once

#include "core/optim/optimizer.h"

namespace trainer {

class Adam : public Optimizer {
 public:
  Adam(std::vector<Param*> params, float beta1, float beta2, float eps, float weight_decay,
       bool decoupled);
  template <bool Decoupled>
  static std::unique_ptr<Optimizer> create(Args& args, std::vector<Param*> params);
  void step(float lr) override;
  std::vector<std::pair<std::string, Tensor*>> state() override;

 private:
  float beta1_, beta2_, eps_, weight_decay_;
  bool decoupled_;
  std::vector<Tensor> m_, v_;  // first and second moments, one per parameter
};

}  // namespace trainer
