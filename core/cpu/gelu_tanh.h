// GELU with the tanh approximation GPT-2 was trained with (and llm.c, and PyTorch's
// gelu(approximate="tanh")): written once for the CPU kernel and its CUDA twin.
//
// 0.5 x (1 + tanh(u)) is x sigmoid(2u) = x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3):
// one exponential and no tanh, and with exp_poly below a loop of it vectorises (libm's tanhf and
// expm1f do not, and took a third of a small GPT's CPU step).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/host_device.h"

namespace trainer::cpu {

constexpr float kSqrt2OverPi = 0.7978845608f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;

// e^x for float x, to about 1 ulp: x = n ln2 + r with |r| <= ln2 / 2, e^r from Cephes' expf
// polynomial, times 2^n built in the exponent bits. Plain arithmetic, so loops vectorise.
// Below -87.3 the result is 2^-126 scaled down to about 1e-38, above 88.7 about 3e38: the
// callers need neither underflow to 0 nor overflow to infinity exactly.
TRAINER_HD inline float exp_poly(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = 88.7f < x ? 88.7f : x;
  // n = x / ln2 rounded to the nearest integer by the 1.5 x 2^23 trick (floorf and rintf do
  // not vectorise without -ffast-math).
  const float n = (x * 1.44269504089f + 12582912.0f) - 12582912.0f;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
#ifdef __CUDA_ARCH__
  return er * __int_as_float(bits);
#else
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return er * scale;
#endif
}

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
