// Row-major GEMM over OpenBLAS: the only place the CPU backend calls BLAS.
#pragma once

#include <cstdint>

namespace trainer::cpu {

// C(M,N) = alpha * op(A) * op(B) + beta * C, all row-major; op(X) = X^T when trans_X.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          const float* B, float beta, float* C);

// The same over sub-matrices: lda, ldb and ldc are the row strides of A, B and C (the heads of
// attention are column blocks of a (T, 3C) matrix).
void gemm_strided(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                  int64_t ldc);

}  // namespace trainer::cpu
