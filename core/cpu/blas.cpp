#include "core/cpu/blas.h"

#include <cblas.h>

namespace trainer::cpu {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          const float* B, float beta, float* C) {
  // BLAS runs single-threaded: the kernels parallelise around it (see parallel.h).
  static const bool single_threaded = (openblas_set_num_threads(1), true);
  (void)single_threaded;
  const int64_t lda = trans_a ? M : K;
  const int64_t ldb = trans_b ? K : N;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(M), static_cast<blasint>(N),
              static_cast<blasint>(K), alpha, A, static_cast<blasint>(lda), B,
              static_cast<blasint>(ldb), beta, C, static_cast<blasint>(N));
}

}  // namespace trainer::cpu
