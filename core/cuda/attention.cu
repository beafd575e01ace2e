#include <cmath>

#include "core/cuda/attention.cuh"
#include "core/cuda/blas_handle.cuh"
#include "core/cuda/element.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/scratch.cuh"

namespace trainer::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = kThreads / kWarp;

// Row-major C(M, N) = alpha op(A) op(B) + beta C for `batch` matrices `stride_*` elements apart,
// through cuBLAS's column-major view (Cᵀ = op(B)ᵀ op(A)ᵀ). A and B of type `ab`, C of type `c`,
// float accumulation (no TF32: fp32 operands multiply as on the CPU; 16-bit ones on the tensor
// cores).
void gemm_batched(cudaDataType_t ab, cudaDataType_t c, bool trans_a, bool trans_b, int64_t M,
                  int64_t N, int64_t K, float alpha, const void* A, int64_t lda, int64_t stride_a,
                  const void* B, int64_t ldb, int64_t stride_b, float beta, void* C, int64_t ldc,
                  int64_t stride_c, int64_t batch) {
  CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      blas_handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
      static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha, B, ab,
      static_cast<int>(ldb), stride_b, A, ab, static_cast<int>(lda), stride_a, &beta, C, c,
      static_cast<int>(ldc), stride_c, static_cast<int>(batch), CUBLAS_COMPUTE_32F,
      CUBLAS_GEMM_DEFAULT));
}

__device__ float warp_max(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Where a kernel's float results go besides (or instead of) att: nowhere, or an array of
// element type E (element.cuh: float, or a 16-bit copy that a tensor-core product reads).
struct NoCopy {
  __device__ void operator()(int64_t, float) const {}
};
template <class E>
struct Store {
  typename E::T* out;
  __device__ void operator()(int64_t i, float v) const { out[i] = E::put(v); }
};

// Each of the rows (T per head) of att: softmax over positions 0..t, zero after; each final
// value also goes to `copy`.
template <class Copy>
__global__ void causal_softmax_kernel(int64_t rows, int64_t T, float* att, Copy copy) {
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
  for (int64_t s = lane; s < T; s += kWarp) {
    const float p = s <= t ? row[s] * inv : 0.0f;
    row[s] = p;
    copy(r * T + s, p);
  }
}

// ds = p (dp - Σ_s p dp), row by row, zero where masked, into `store` (dp itself, in float, or a
// 16-bit array); each p read also goes to `copy_p` (the 16-bit P of dV = Pᵀ dY).
template <class StoreDs, class CopyP>
__global__ void causal_softmax_backward_kernel(int64_t rows, int64_t T, const float* att,
                                               const float* dp, StoreDs store, CopyP copy_p) {
  const int64_t r = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= rows) return;
  const int64_t t = r % T;
  const float* p = att + r * T;
  const float* d = dp + r * T;
  float dot = 0.0f;
  for (int64_t s = lane; s <= t; s += kWarp) dot += p[s] * d[s];
  dot = warp_sum(dot);
  for (int64_t s = lane; s < T; s += kWarp) {
    store(r * T + s, s <= t ? p[s] * (d[s] - dot) : 0.0f);
    copy_p(r * T + s, p[s]);
  }
}

unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
}

// The products of one call in `t` (fp32, or fp16 / bf16 on the tensor cores), over sequence n's
// heads: a head is a column block of the (T, 3C) qkv matrix, D apart. Pointers are to elements of
// `Elem` (float or uint16_t); the scores S and P are float, dP too.
template <class Elem>
struct Products {
  cudaDataType_t t;
  int64_t T, H, D, C, C3;
  float scale;

  // att(n) = scale Q Kᵀ
  void scores(const Elem* qkv_n, float* att_n) const {
    gemm_batched(t, CUDA_R_32F, false, true, T, T, D, scale, qkv_n, C3, D, qkv_n + C, C3, D, 0.0f,
                 att_n, T, T * T, H);
  }
  // y(n) = P V, P in the products' type
  void values(const Elem* p_n, const Elem* qkv_n, Elem* y_n) const {
    gemm_batched(t, t, false, false, T, D, T, 1.0f, p_n, T, T * T, qkv_n + 2 * C, C3, D, 0.0f, y_n,
                 C, D, H);
  }
  // dP = dY Vᵀ (float)
  void grad_probs(const Elem* dy_n, const Elem* qkv_n, float* dp) const {
    gemm_batched(t, CUDA_R_32F, false, true, T, T, D, 1.0f, dy_n, C, D, qkv_n + 2 * C, C3, D, 0.0f,
                 dp, T, T * T, H);
  }
  // dV = Pᵀ dY; dQ = scale dS K; dK = scale dSᵀ Q (P and dS in the products' type)
  void grads(const Elem* p_n, const Elem* ds_n, const Elem* qkv_n, const Elem* dy_n,
             Elem* dqkv_n) const {
    gemm_batched(t, t, true, false, T, D, T, 1.0f, p_n, T, T * T, dy_n, C, D, 0.0f, dqkv_n + 2 * C,
                 C3, D, H);
    gemm_batched(t, t, false, false, T, D, T, scale, ds_n, T, T * T, qkv_n + C, C3, D, 0.0f, dqkv_n,
                 C3, D, H);
    gemm_batched(t, t, true, false, T, D, T, scale, ds_n, T, T * T, qkv_n, C3, D, 0.0f, dqkv_n + C,
                 C3, D, H);
  }
};

template <class Elem>
Products<Elem> products(cudaDataType_t t, int64_t T, int64_t H, int64_t D) {
  return {t, T, H, D, H * D, 3 * H * D, 1.0f / std::sqrt(static_cast<float>(D))};
}

// 16-bit attention (E: F16Elem or Bf16Elem, cuBLAS type t): P and dS are rounded to 16 bits where
// they enter a product, as PyTorch's attention under autocast has them; the softmax and its
// backward are computed in float.
template <class E>
void forward_16(cudaDataType_t t, int64_t N, int64_t T, int64_t H, int64_t D, const uint16_t* qkv,
                uint16_t* y, float* att) {
  const Products<uint16_t> pr = products<uint16_t>(t, T, H, D);
  for (int64_t n = 0; n < N; ++n) pr.scores(qkv + n * T * pr.C3, att + n * H * T * T);
  const Scratch p16(static_cast<size_t>(N * H * T * T) * sizeof(uint16_t));
  causal_softmax_kernel<<<row_blocks(N * H * T), kThreads, 0, stream()>>>(
      N * H * T, T, att, Store<E>{p16.get<uint16_t>()});
  TRAINER_CHECK_LAUNCH();
  for (int64_t n = 0; n < N; ++n)
    pr.values(p16.get<uint16_t>() + n * H * T * T, qkv + n * T * pr.C3, y + n * T * pr.C);
}

template <class E>
void backward_16(cudaDataType_t t, int64_t N, int64_t T, int64_t H, int64_t D, const uint16_t* qkv,
                 const float* att, const uint16_t* dy, uint16_t* dqkv) {
  const Products<uint16_t> pr = products<uint16_t>(t, T, H, D);
  const int64_t scores = H * T * T;  // one sequence's
  const Scratch dp(static_cast<size_t>(scores) * sizeof(float)),
      p16(static_cast<size_t>(scores) * sizeof(uint16_t)),
      ds16(static_cast<size_t>(scores) * sizeof(uint16_t));
  for (int64_t n = 0; n < N; ++n) {
    const uint16_t* qkv_n = qkv + n * T * pr.C3;
    const uint16_t* dy_n = dy + n * T * pr.C;
    pr.grad_probs(dy_n, qkv_n, dp.get<float>());
    causal_softmax_backward_kernel<<<row_blocks(H * T), kThreads, 0, stream()>>>(
        H * T, T, att + n * scores, dp.get<float>(), Store<E>{ds16.get<uint16_t>()},
        Store<E>{p16.get<uint16_t>()});
    TRAINER_CHECK_LAUNCH();
    pr.grads(p16.get<uint16_t>(), ds16.get<uint16_t>(), qkv_n, dy_n, dqkv + n * T * pr.C3);
  }
}

}  // namespace

void attention_forward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv, float* y,
                       float* att) {
  if (N * T == 0) return;
  const Products<float> pr = products<float>(CUDA_R_32F, T, H, D);
  for (int64_t n = 0; n < N; ++n) pr.scores(qkv + n * T * pr.C3, att + n * H * T * T);
  causal_softmax_kernel<<<row_blocks(N * H * T), kThreads, 0, stream()>>>(N * H * T, T, att,
                                                                          NoCopy{});
  TRAINER_CHECK_LAUNCH();
  for (int64_t n = 0; n < N; ++n)
    pr.values(att + n * H * T * T, qkv + n * T * pr.C3, y + n * T * pr.C);
}

void attention_backward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv,
                        const float* att, const float* dy, float* dqkv) {
  if (N * T == 0) return;
  const Products<float> pr = products<float>(CUDA_R_32F, T, H, D);
  const Scratch dp(static_cast<size_t>(H * T * T) * sizeof(float));  // one sequence's dP, then dS
  for (int64_t n = 0; n < N; ++n) {
    const float* qkv_n = qkv + n * T * pr.C3;
    const float* dy_n = dy + n * T * pr.C;
    const float* p = att + n * H * T * T;
    pr.grad_probs(dy_n, qkv_n, dp.get<float>());
    causal_softmax_backward_kernel<<<row_blocks(H * T), kThreads, 0, stream()>>>(
        H * T, T, p, dp.get<float>(), Store<F32Elem>{dp.get<float>()}, NoCopy{});
    TRAINER_CHECK_LAUNCH();
    pr.grads(p, dp.get<float>(), qkv_n, dy_n, dqkv + n * T * pr.C3);
  }
}

void attention_forward_16(bool bf16, int64_t N, int64_t T, int64_t H, int64_t D, const void* qkv,
                          void* y, float* att) {
  if (N * T == 0) return;
  const auto* in = static_cast<const uint16_t*>(qkv);
  auto* out = static_cast<uint16_t*>(y);
  if (bf16)
    forward_16<Bf16Elem>(CUDA_R_16BF, N, T, H, D, in, out, att);
  else
    forward_16<F16Elem>(CUDA_R_16F, N, T, H, D, in, out, att);
}

void attention_backward_16(bool bf16, int64_t N, int64_t T, int64_t H, int64_t D, const void* qkv,
                           const float* att, const void* dy, void* dqkv) {
  if (N * T == 0) return;
  const auto* in = static_cast<const uint16_t*>(qkv);
  const auto* d = static_cast<const uint16_t*>(dy);
  auto* out = static_cast<uint16_t*>(dqkv);
  if (bf16)
    backward_16<Bf16Elem>(CUDA_R_16BF, N, T, H, D, in, att, d, out);
  else
    backward_16<F16Elem>(CUDA_R_16F, N, T, H, D, in, att, d, out);
}

}  // namespace trainer::cuda
