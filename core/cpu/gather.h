// Rows of a table picked by index: a batch out of a data set held in memory.
#pragma once

#include <cstdint>

namespace trainer::cpu {

// dst(n, row_words) = src(idx[i], row_words) for each i; 4-byte words (f32 or i32 data).
void gather_rows(int64_t n, int64_t row_words, const int32_t* idx, const uint32_t* src,
                 uint32_t* dst);

}  // namespace trainer::cpu
