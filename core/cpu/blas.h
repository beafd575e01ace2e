// Row-major GEMM over OpenBLAS: the only place the CPU backend calls BLAS.
#pragma once

#include <cstdint>

namespace trainer::cpu {

// C(M,N) = alpha * op(A) * op(B) + beta * C, all row-major; op(X) = X^T when trans_X.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          const float* B, float beta, float* C);

}  // namespace trainer::cpu
