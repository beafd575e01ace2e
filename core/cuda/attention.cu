#include <cmath>

#include "core/cuda/attention.cuh"
#include "core/cuda/blas_handle.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/scratch.cuh"

namespace trainer::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = kThreads / kWarp;

// Row-major C(M, N) = alpha op(A) op(B) + beta C for `batch` matrices `stride_*` floats apart,
// through cuBLAS's column-major view (Cᵀ = op(B)ᵀ op(A)ᵀ). FP32 math, as on the CPU.
void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
                  int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c,
                  int64_t batch) {
  CUBLAS_CHECK(cublasSgemmStridedBatched(
      blas_handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
      static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha, B,
      static_cast<int>(ldb), stride_b, A, static_cast<int>(lda), stride_a, &beta, C,
      static_cast<int>(ldc), stride_c, static_cast<int>(batch)));
}

__device__ float warp_max(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Each of the rows (T per head) of att: softmax over positions 0..t, zero after.
__global__ void causal_softmax_kernel(int64_t rows, int64_t T, float* att) {
  const int64_t r = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= rows) return;
  const int64_t t = r % T;
  float* row = att + r * T;
  float mx = -INFINITY;
  for (int64_t s = lane; s <= t; s += kWarp) mx = fmaxf(mx, row[s]);
  mx = warp_max(mx);
  float sum = 0.0f;
  for (int64_t s = lane; s <= t; s += kWarp) {
    const float e = expf(row[s] - mx);
    row[s] = e;
    sum += e;
  }
  const float inv = 1.0f / warp_sum(sum);
  for (int64_t s = lane; s < T; s += kWarp) row[s] = s <= t ? row[s] * inv : 0.0f;
}

// dp := p (dp - Σ_s p dp), row by row, zero where masked.
__global__ void causal_softmax_backward_kernel(int64_t rows, int64_t T, const float* att,
                                               float* dp) {
  const int64_t r = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= rows) return;
  const int64_t t = r % T;
  const float* p = att + r * T;
  float* d = dp + r * T;
  float dot = 0.0f;
  for (int64_t s = lane; s <= t; s += kWarp) dot += p[s] * d[s];
  dot = warp_sum(dot);
  for (int64_t s = lane; s < T; s += kWarp) d[s] = s <= t ? p[s] * (d[s] - dot) : 0.0f;
}

unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
}

}  // namespace

void attention_forward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv, float* y,
                       float* att) {
  if (N * T == 0) return;
  const int64_t C = H * D, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (int64_t n = 0; n < N; ++n) {
    const float* q = qkv + n * T * C3;
    float* p = att + n * H * T * T;
    gemm_batched(false, true, T, T, D, scale, q, C3, D, q + C, C3, D, 0.0f, p, T, T * T, H);
  }
  causal_softmax_kernel<<<row_blocks(N * H * T), kThreads, 0, stream()>>>(N * H * T, T, att);
  TRAINER_CHECK_LAUNCH();
  for (int64_t n = 0; n < N; ++n) {
    const float* v = qkv + n * T * C3 + 2 * C;
    gemm_batched(false, false, T, D, T, 1.0f, att + n * H * T * T, T, T * T, v, C3, D, 0.0f,
                 y + n * T * C, C, D, H);
  }
}

void attention_backward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv,
                        const float* att, const float* dy, float* dqkv) {
  if (N * T == 0) return;
  const int64_t C = H * D, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const Scratch scratch(static_cast<size_t>(H * T * T) * sizeof(float));
  float* dp = scratch.get<float>();  // one sequence's dP
  for (int64_t n = 0; n < N; ++n) {
    const float* q = qkv + n * T * C3;
    const float* k = q + C;
    const float* v = q + 2 * C;
    float* dq = dqkv + n * T * C3;
    float* dk = dq + C;
    float* dv = dq + 2 * C;
    const float* p = att + n * H * T * T;
    const float* dyn = dy + n * T * C;
    gemm_batched(false, true, T, T, D, 1.0f, dyn, C, D, v, C3, D, 0.0f, dp, T, T * T, H);  // dP
    gemm_batched(true, false, T, D, T, 1.0f, p, T, T * T, dyn, C, D, 0.0f, dv, C3, D, H);  // dv
    causal_softmax_backward_kernel<<<row_blocks(H * T), kThreads, 0, stream()>>>(H * T, T, p, dp);
    TRAINER_CHECK_LAUNCH();
    gemm_batched(false, false, T, D, T, scale, dp, T, T * T, k, C3, D, 0.0f, dq, C3, D, H);  // dq
    gemm_batched(true, false, T, D, T, scale, dp, T, T * T, q, C3, D, 0.0f, dk, C3, D, H);   // dk
  }
}

}  // namespace trainer::cuda
