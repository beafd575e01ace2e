#include "core/loss_totals.h"

#include <cstring>

namespace trainer {

LossTotals::LossTotals(Device device)
    : storage_(Tensor::zeros({2 * sizeof(double) / sizeof(int32_t)}, DType::I32, device)) {}

cpu::LossSums LossTotals::read() const {
  const Tensor host = storage_.to(Device::cpu());
  double v[2];
  std::memcpy(v, host.raw(), sizeof v);
  return {v[0], static_cast<int64_t>(v[1])};
}

}  // namespace trainer
