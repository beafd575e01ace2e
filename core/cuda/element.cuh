// How kernels read and write a tensor's elements: floats as they are; fp16 / bf16 bits widened to
// float when read and rounded once when written (core/half.h: the CPU's conversions). An op on
// 16-bit tensors then computes in float without a float copy of its operands or its result.
// Device code only (.cu files).
#pragma once

#include <cstdint>

#include "core/half.h"

namespace trainer::cuda {

struct F32Elem {
  using T = float;
  __device__ static float get(float v) { return v; }
  __device__ static float put(float v) { return v; }
};

struct F16Elem {
  using T = uint16_t;
  __device__ static float get(uint16_t v) { return f16_to_float(v); }
  __device__ static uint16_t put(float v) { return float_to_f16(v); }
};

struct Bf16Elem {
  using T = uint16_t;
  __device__ static float get(uint16_t v) { return bf16_to_float(v); }
  __device__ static uint16_t put(float v) { return float_to_bf16(v); }
};

// fn(E{}) with E the element type of a 16-bit tensor (`bf16` chooses).
template <class Fn>
void with_16(bool bf16, Fn fn) {
  if (bf16)
    fn(Bf16Elem{});
  else
    fn(F16Elem{});
}

// p as a pointer to E's storage type.
template <class E>
const typename E::T* as(const void* p) {
  return static_cast<const typename E::T*>(p);
}
template <class E>
typename E::T* as(void* p) {
  return static_cast<typename E::T*>(p);
}

}  // namespace trainer::cuda
