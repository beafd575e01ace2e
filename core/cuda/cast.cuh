// Conversions between float and fp16 / bf16 on the GPU: the twins of core/cpu/cast.h.
#pragma once

#include <cstdint>

namespace trainer::cuda {

void f32_to_f16(int64_t n, const float* src, uint16_t* dst);
void f16_to_f32(int64_t n, const uint16_t* src, float* dst);
void f32_to_bf16(int64_t n, const float* src, uint16_t* dst);
void bf16_to_f32(int64_t n, const uint16_t* src, float* dst);

}  // namespace trainer::cuda
