// GELU with the tanh approximation GPT-2 was trained with (and llm.c, and PyTorch's
// gelu(approximate="tanh")): written once for the CPU kernel and its CUDA twin.
//
// 0.5 x (1 + tanh(u)) is x sigmoid(2u) = x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3):
// one exponential and no tanh, and with exp_poly (exp_poly.h) a loop of it vectorises (libm's tanhf
// and expm1f do not, and took a third of a small GPT's CPU step).
#pragma once

#include "core/cpu/exp_poly.h"
#include "core/host_device.h"

namespace trainer::cpu {

constexpr float kSqrt2OverPi = 0.7978845608f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;

// sigmoid(2u) of GELU's inner argument u(x).
TRAINER_HD inline float gelu_tanh_gate(float x) {
  const float u = kSqrt2OverPi * (x + kGeluCubic * x * x * x);
  return 1.0f / (1.0f + exp_poly(-2.0f * u));
}

TRAINER_HD inline float gelu_tanh(float x) { return x * gelu_tanh_gate(x); }

// d/dx of gelu_tanh: s + x s (1 - s) 2 du/dx, with s = sigmoid(2u).
TRAINER_HD inline float gelu_tanh_grad(float x) {
  const float s = gelu_tanh_gate(x);
  const float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
  return s + 2.0f * x * s * (1.0f - s) * du;
}

}  // namespace trainer::cpu
