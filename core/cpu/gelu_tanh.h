// GELU with the tanh approximation GPT-2 was trained with (and llm.c, and PyTorch's
// gelu(approximate="tanh")): written once for the CPU kernel and its CUDA twin.
#pragma once

#include <cmath>

#include "core/host_device.h"

namespace trainer::cpu {

constexpr float kSqrt2OverPi = 0.7978845608f;  // sqrt(2 / pi)

// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
TRAINER_HD inline float gelu_tanh(float x) {
  const float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.0f + tanhf(u));
}

// d/dx of gelu_tanh
TRAINER_HD inline float gelu_tanh_grad(float x) {
  const float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
  const float t = tanhf(u);
  const float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

}  // namespace trainer::cpu
