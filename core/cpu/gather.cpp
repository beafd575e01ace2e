#include "core/cpu/gather.h"

#include <cstring>

namespace trainer::cpu {

void gather_rows(int64_t n, int64_t row_words, const int32_t* idx, const uint32_t* src,
                 uint32_t* dst) {
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(dst + i * row_words, src + idx[i] * row_words, sizeof(uint32_t) * row_words);
}

}  // namespace trainer::cpu
