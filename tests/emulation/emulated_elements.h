// Elements of the host stand-ins' operands (emulated_cublas.h, emulated_cudnn.h): fp32, fp16 or
// bf16 values read as floats and written back rounded once, as the libraries round a result.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/half.h"

namespace emulated::blas {

inline float element(const void* p, cudaDataType_t type, int64_t i) {
  if (type == CUDA_R_32F) return static_cast<const float*>(p)[i];
  const uint16_t bits = static_cast<const uint16_t*>(p)[i];
  return type == CUDA_R_16BF ? ::trainer::bf16_to_float(bits) : ::trainer::f16_to_float(bits);
}
inline void set_element(void* p, cudaDataType_t type, int64_t i, float v) {
  if (type == CUDA_R_32F)
    static_cast<float*>(p)[i] = v;
  else
    static_cast<uint16_t*>(p)[i] =
        type == CUDA_R_16BF ? ::trainer::float_to_bf16(v) : ::trainer::float_to_f16(v);
}
inline int64_t element_bytes(cudaDataType_t type) { return type == CUDA_R_32F ? 4 : 2; }

}  // namespace emulated::blas
