// Adam (L2 decay added to the gradient) and AdamW (decoupled decay), as in PyTorch.
#pragma once

#include "core/cpu/optim.h"
#include "core/optim/optimizer.h"

namespace trainer {

class Adam : public Optimizer {
 public:
  Adam(std::vector<Param*> params, float beta1, float beta2, float eps, float weight_decay,
       bool decoupled);
  template <bool Decoupled>
  static std::unique_ptr<Optimizer> create(Args& args, std::vector<Param*> params);
  void prepare(float lr) override;
  void apply(const int32_t* skip) override;
  std::vector<std::pair<std::string, Tensor*>> state() override;

 private:
  float beta1_, beta2_, eps_, weight_decay_;
  bool decoupled_;
  std::vector<Tensor> m_, v_;  // first and second moments, one per parameter
  cpu::AdamArgs args_{};       // this step's, from prepare
  // Their constants on the GPU (read only where CUDA is built).
  [[maybe_unused]] const cpu::AdamConstants* device_constants_ = nullptr;
};

}  // namespace trainer
