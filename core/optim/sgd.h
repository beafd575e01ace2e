// SGD with momentum (PyTorch's rule: the buffer starts as the first gradient) and L2 decay.
#pragma once

#include "core/optim/optimizer.h"

namespace trainer {

class Sgd : public Optimizer {
 public:
  Sgd(std::vector<Param*> params, float momentum, float weight_decay, bool nesterov);
  static std::unique_ptr<Optimizer> create(Args& args, std::vector<Param*> params);
  void step(float lr) override;
  std::vector<std::pair<std::string, Tensor*>> state() override;

 private:
  float momentum_, weight_decay_;
  bool nesterov_;
  std::vector<Tensor> momentum_buf_;
};

}  // namespace trainer
