// A step's (or an evaluation's) summed loss and correct count, kept where the logits are.
//
// On a GPU the loss kernels add into device memory, so a step queues its micro-batches' losses
// without waiting for the device, and reads the sums back once, when it needs them (its end).
#pragma once

#include "core/cpu/loss.h"
#include "core/tensor.h"

namespace trainer {

class LossTotals {
 public:
  explicit LossTotals(Device device);
  Device device() const { return storage_.device(); }
  // {loss, correct}, on device(): what the loss kernels add into.
  double* sums() const { return static_cast<double*>(storage_.raw()); }
  // The sums so far; waits for the device.
  cpu::LossSums read() const;
  void zero() { storage_.zero(); }

 private:
  Tensor storage_;  // two doubles (a tensor has no f64 type: four i32 words), zeroed
};

}  // namespace trainer
