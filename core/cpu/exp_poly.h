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
// Below -87.3 the result is 0 (e^x is then under float's smallest normal number), so that a
// logit of -inf (the head's padded vocabulary) has exactly no probability and no gradient. From
// about 88.4 it is infinity (2^128 does not fit the exponent; e^x itself passes the largest float
// at 88.72): the callers' arguments are at most 0 (softmax, cross-entropy) or need only
// 1 / (1 + e^x), which infinity gives right (GELU). A NaN gives a NaN.
TRAINER_HD inline float exp_poly(float x) {
  const bool below = x < -87.3f;
  x = below ? -87.3f : x;
  x = 88.7f < x ? 88.7f : x;
  // n = x / ln2 rounded to the nearest integer by the 1.5 x 2^23 trick (floorf and rintf do
  // not vectorise without -ffast-math): `shifted` holds n in its low mantissa bits, read from
  // there rather than by a float-to-int conversion, which a NaN would make undefined.
  const float shifted = x * 1.44269504089f + 12582912.0f;
  const float n = shifted - 12582912.0f;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
#ifdef __CUDA_ARCH__
  const uint32_t shifted_bits = static_cast<uint32_t>(__float_as_int(shifted));
#else
  uint32_t shifted_bits;
  std::memcpy(&shifted_bits, &shifted, sizeof shifted_bits);
#endif
  // 0x4B400000: the bits of 1.5 x 2^23; unsigned, so a NaN's bits wrap instead of overflowing.
  const uint32_t bits = (shifted_bits - 0x4B400000u + 127u) << 23;
#ifdef __CUDA_ARCH__
  return below ? 0.0f : er * __int_as_float(static_cast<int>(bits));
#else
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return below ? 0.0f : er * scale;
#endif
}

}  // namespace trainer::cpu
