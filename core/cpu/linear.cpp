#include "core/cpu/linear.h"

#include <algorithm>

#include "core/cpu/blas.h"
#include "core/cpu/elementwise.h"
#include "core/cpu/parallel.h"

namespace trainer::cpu {

// Rows are cut into blocks whose size depends on the shapes only (N, in, out), never on the
// thread count, and threads take whole blocks. A GEMM's rounding can depend on its M (OpenBLAS
// picks edge kernels by it, differently on different processors), so a row must always be
// computed by a call of the same shape: then y and dx are bit-identical for any thread count.
// At most 8 blocks (work for up to 8 threads) of at least 64 rows and 256k multiply-adds: each
// BLAS call packs the weight again, so many small blocks cost (a small GPT's step spent a fifth
// of its time packing at 64-row blocks).
static int64_t row_block(int64_t N, int64_t in, int64_t out) {
  const int64_t grain = (int64_t{1} << 18) / std::max<int64_t>(1, in * out);
  const int64_t rows = std::max({int64_t{64}, grain, (N + 7) / 8});
  return (rows + 15) / 16 * 16;
}

// f(begin, end) for each block of rows in blocks [first, last) of [0, N).
template <class F>
static void each_block(int64_t N, int64_t block, int64_t first, int64_t last, F&& f) {
  for (int64_t b = first; b < last; ++b) f(b * block, std::min(N, (b + 1) * block));
}

void linear_forward(int64_t N, int64_t in, int64_t out, const float* x, const float* w,
                    const float* b, float* y) {
  const int64_t block = row_block(N, in, out), blocks = (N + block - 1) / block;
  parallel_ranges(blocks, 1, [&](int, int64_t first, int64_t last) {
    each_block(N, block, first, last, [&](int64_t begin, int64_t end) {
      const int64_t rows = end - begin;
      gemm(false, true, rows, out, in, 1.0f, x + begin * in, w, 0.0f, y + begin * out);
      if (b) add_bias_rows(rows, out, b, y + begin * out);
    });
  });
}

void linear_backward(int64_t N, int64_t in, int64_t out, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db) {
  const int64_t block = row_block(N, in, out), blocks = (N + block - 1) / block;
  auto input_grad = [&](int64_t b, int64_t e) {
    gemm(false, false, e - b, in, out, 1.0f, dy + b * out, w, 0.0f, dx + b * in);
  };
  if (!dw) {  // the input's gradient alone (a zero-bubble schedule's B): the same blocks
    parallel_ranges(blocks, 1, [&](int, int64_t first, int64_t last) {
      each_block(N, block, first, last, input_grad);
    });
    return;
  }
  parallel_accumulate(
      blocks, 1, {{dw, out * in}, {db, out}},
      [&](int, int64_t first, int64_t last, float* const* part) {
        // dw and db over all of this thread's rows in one GEMM (their summation order may
        // follow the thread count); dx block by block, so that it does not.
        const int64_t begin = first * block, rows = std::min(N, last * block) - begin;
        gemm(true, false, out, in, rows, 1.0f, dy + begin * out, x + begin * in, 1.0f,
             part[0]);  // dw += dyᵀ x
        if (part[1]) sum_rows(rows, out, dy + begin * out, part[1]);
        if (dx) each_block(N, block, first, last, input_grad);
      });
}

}  // namespace trainer::cpu
