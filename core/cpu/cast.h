// Conversions between float and the 16-bit formats of core/half.h, over arrays.
#pragma once

#include <cstdint>

namespace trainer::cpu {

void f32_to_f16(int64_t n, const float* src, uint16_t* dst);
void f16_to_f32(int64_t n, const uint16_t* src, float* dst);
void f32_to_bf16(int64_t n, const float* src, uint16_t* dst);
void bf16_to_f32(int64_t n, const uint16_t* src, float* dst);

}  // namespace trainer::cpu
