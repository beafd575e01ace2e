// e^x in float arithmetic that vectorises: the exponential of the CPU kernels' elementwise loops
// (GELU, attention's softmax, the cross-entropy), where libm's expf or exp is a call per element.
// Written once for the CPU kernels and their CUDA twins.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/host_device.h"

namespace trainer::cpu {

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

}  // namespace trainer::cpu
