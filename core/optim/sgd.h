// SGD with momentum (PyTorch's rule: the buffer starts as the first gradient) and L2 decay.
#pragma once

#include "core/cpu/optim.h"
#include "core/optim/optimizer.h"

namespace trainer {

class Sgd : public Optimizer {
 public:
  Sgd(std::vector<Param*> params, float momentum, float weight_decay, bool nesterov);
  static std::unique_ptr<Optimizer> create(Args& args, std::vector<Param*> params);
  void prepare(float lr) override;
  void apply(const int32_t* skip) override;
  std::vector<std::pair<std::string, Tensor*>> state() override;

 private:
  float momentum_, weight_decay_;
  bool nesterov_;
  std::vector<Tensor> momentum_buf_;
  cpu::SgdArgs args_{};  // this step's, from prepare
  // Their copy on the GPU (read only where CUDA is built).
  [[maybe_unused]] const cpu::SgdArgs* device_args_ = nullptr;
};

}  // namespace trainer
