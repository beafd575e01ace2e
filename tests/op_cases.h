// The one list of layer cases that the op tests run (as ggml's test-backend-ops does): each case
// builds a layer and an input, and says how close its GPU twin must come to the CPU.
//
//   LayerGradTest: every case's backward on the CPU against finite differences of its forward.
//   GpuOpsTest:    every case's forward output and gradients on the GPU against the CPU.
//
// Adding an op adds one case here; both checks then cover it.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/layers/layer.h"

namespace trainer::test {

struct OpCase {
  std::string name;
  // The layer, built the same way each call (its weights depend only on `id`).
  std::function<std::unique_ptr<Layer>(const InitContext& id)> make;
  // A batch of inputs (f32, or i32 tokens), the same each call.
  std::function<Tensor()> input;
  // GPU against CPU: |gpu - cpu| <= abs + rel |cpu|, for outputs and every gradient. FP32
  // kernels that sum in another order (GEMMs) agree to about 1e-5; elementwise ones to a few ulp.
  double gpu_abs = 1e-5, gpu_rel = 1e-5;
  // Some parameters start where finite differences would miss a term (layer norm's weight 1 and
  // bias 0): the case sets them to these random values first, for both checks.
  bool randomize_params = false;
};

const std::vector<OpCase>& op_cases();

// What GoogleTest prints for a case (its name, not its bytes).
inline void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name; }

// The forward context the cases run in: training (dropout on), a fixed seed and step.
ForwardContext op_context();

}  // namespace trainer::test
