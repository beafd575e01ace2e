#include "core/cpu/cast.h"

#ifdef __F16C__
#include <immintrin.h>
#endif

#include "core/cpu/parallel.h"
#include "core/half.h"

namespace trainer::cpu {

constexpr int64_t kGrain = int64_t{1} << 15;

// F16C (every x86-64-v3 CPU) converts 8 values per instruction with the same rounding as
// float_to_f16; the scalar function finishes the tail, and is the whole path elsewhere.
void f32_to_f16(int64_t n, const float* src, uint16_t* dst) {
  parallel_ranges(n, kGrain, [=](int, int64_t b, int64_t e) {
    int64_t i = b;
#ifdef __F16C__
    for (; i + 8 <= e; i += 8)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                       _mm256_cvtps_ph(_mm256_loadu_ps(src + i),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
    for (; i < e; ++i) dst[i] = float_to_f16(src[i]);
  });
}

void f16_to_f32(int64_t n, const uint16_t* src, float* dst) {
  parallel_ranges(n, kGrain, [=](int, int64_t b, int64_t e) {
    int64_t i = b;
#ifdef __F16C__
    for (; i + 8 <= e; i += 8)
      _mm256_storeu_ps(dst + i,
                       _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
#endif
    for (; i < e; ++i) dst[i] = f16_to_float(src[i]);
  });
}

void f32_to_bf16(int64_t n, const float* src, uint16_t* dst) {
  parallel_ranges(n, kGrain, [=](int, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[i] = float_to_bf16(src[i]);
  });
}

void bf16_to_f32(int64_t n, const uint16_t* src, float* dst) {
  parallel_ranges(n, kGrain, [=](int, int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[i] = bf16_to_float(src[i]);
  });
}

}  // namespace trainer::cpu
