// Rows picked by index on the GPU: the twin of core/cpu/gather.h (a batch out of a data set
// kept on the device).
#pragma once

#include <cstdint>

namespace trainer::cuda {

void gather_rows(int64_t n, int64_t row_words, const int32_t* idx, const uint32_t* src,
                 uint32_t* dst);

}  // namespace trainer::cuda
