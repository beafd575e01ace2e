#include "core/cpu/linear.h"

#include <algorithm>

#include "core/cpu/blas.h"
#include "core/cpu/elementwise.h"
#include "core/cpu/parallel.h"

namespace trainer::cpu {

// Rows per thread: enough that each thread's GEMM does at least 256k multiply-adds.
static int64_t row_grain(int64_t in, int64_t out) {
  return std::max<int64_t>(1, (int64_t{1} << 18) / (in * out));
}

void linear_forward(int64_t N, int64_t in, int64_t out, const float* x, const float* w,
                    const float* b, float* y) {
  parallel_ranges(N, row_grain(in, out), [&](int, int64_t begin, int64_t end) {
    const int64_t rows = end - begin;
    gemm(false, true, rows, out, in, 1.0f, x + begin * in, w, 0.0f, y + begin * out);
    if (b) add_bias_rows(rows, out, b, y + begin * out);
  });
}

void linear_backward(int64_t N, int64_t in, int64_t out, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db) {
  parallel_accumulate(N, row_grain(in, out), {{dw, out * in}, {db, out}},
                      [&](int, int64_t begin, int64_t end, float* part) {
                        const int64_t rows = end - begin;
                        const float* dyr = dy + begin * out;
                        gemm(true, false, out, in, rows, 1.0f, dyr, x + begin * in, 1.0f,
                             part);  // dw += dyᵀ x
                        if (db) sum_rows(rows, out, dyr, part + out * in);
                        if (dx)
                          gemm(false, false, rows, in, out, 1.0f, dyr, w, 0.0f, dx + begin * in);
                      });
}

}  // namespace trainer::cpu
