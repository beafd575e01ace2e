#include <cmath>
#include <type_traits>

#include "core/cuda/attention.cuh"
#include "core/cuda/blas_handle.cuh"
#include "core/cuda/element.cuh"
#include "core/cuda/flash_attention.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/reduce.cuh"
#include "core/cuda/scratch.cuh"

namespace trainer::cuda {
namespace {

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

// Each of the rows (T per head) of scores S: softmax over positions 0..t, zero after, in place;
// the row's (max, 1 / sum) into stats, and each probability also to p16 (a 16-bit copy that a
// tensor-core product reads; E = F32Elem: none, the product reads S).
template <class E>
__global__ void causal_softmax_kernel(int64_t rows, int64_t T, float* S, float2* stats,
                                      typename E::T* p16) {
  const int64_t r = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= rows) return;
  const int64_t t = r % T;
  float* row = S + r * T;
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
    if (p16) p16[r * T + s] = E::put(p);
  }
  if (lane == 0) stats[r] = make_float2(mx, inv);
}

// Backward through the softmax of each row of scores S (row r: head r / T, position r % T of one
// sequence, whose dy and forward y are (T, C)): P again from S and forward's stats, with forward's
// operations (in place, and to p16 as above), then dS = P (dP - Σ_s P dP), zero where masked,
// into ds16 (E = F32Elem: in place of dP). Σ_s P dP is dy · y, as on the CPU.
template <class E>
__global__ void causal_softmax_backward_kernel(int64_t rows, int64_t T, int64_t D, float* S,
                                               const float2* stats, const typename E::T* dy,
                                               const typename E::T* y, float* dp,
                                               typename E::T* p16, typename E::T* ds16) {
  const int64_t r = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= rows) return;
  const int64_t t = r % T, C = rows / T * D, at = t * C + r / T * D;
  const float2 st = stats[r];
  float* p = S + r * T;
  float* d = dp + r * T;
  const float dot = warp_dot<E>(dy + at, y + at, D);
  for (int64_t s = lane; s < T; s += kWarp) {
    const float ps = s <= t ? expf(p[s] - st.x) * st.y : 0.0f;
    p[s] = ps;
    if (p16) p16[r * T + s] = E::put(ps);
  }
  for (int64_t s = lane; s < T; s += kWarp) {
    const float ds = s <= t ? p[s] * (d[s] - dot) : 0.0f;
    if (ds16)
      ds16[r * T + s] = E::put(ds);
    else
      d[s] = ds;
  }
}

// The products of one call in `t` (fp32, or fp16 / bf16 on the tensor cores), over sequence n's
// heads: a head is a column block of the (T, 3C) qkv matrix, D apart. Pointers are to elements of
// `Elem` (float or uint16_t); the scores S and P are float, dP too.
template <class Elem>
struct Products {
  cudaDataType_t t;
  int64_t T, H, D, C, C3;
  float scale;

  // S(n) = scale Q Kᵀ
  void scores(const Elem* qkv_n, float* s_n) const {
    gemm_batched(t, CUDA_R_32F, false, true, T, T, D, scale, qkv_n, C3, D, qkv_n + C, C3, D, 0.0f,
                 s_n, T, T * T, H);
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

// Attention on elements of E (F32Elem, or F16Elem / Bf16Elem on the tensor cores with float
// accumulation, cuBLAS type t), one sequence at a time: its scores (H x T x T floats) live in a
// scratch block for the length of the call, never in the stash. In 16 bits P and dS are rounded
// where they enter a product, as PyTorch's attention under autocast has them; the softmax and its
// backward are computed in float.
template <class E>
void forward(cudaDataType_t t, int64_t N, int64_t T, int64_t H, int64_t D, const typename E::T* qkv,
             typename E::T* y, float2* stats) {
  using Elem = typename E::T;
  constexpr bool narrow = !std::is_same_v<E, F32Elem>;
  const Products<Elem> pr = products<Elem>(t, T, H, D);
  const int64_t scores = H * T * T;  // one sequence's
  const Scratch S(static_cast<size_t>(scores) * sizeof(float)),
      p16(narrow ? static_cast<size_t>(scores) * sizeof(Elem) : 0);
  // P V reads P as Elem: the 16-bit copy, or the float probabilities in S themselves.
  const Elem* p = narrow ? p16.get<Elem>() : reinterpret_cast<const Elem*>(S.get<float>());
  for (int64_t n = 0; n < N; ++n) {
    const Elem* qkv_n = qkv + n * T * pr.C3;
    pr.scores(qkv_n, S.get<float>());
    launch(causal_softmax_kernel<E>, warp_row_blocks(H * T), kThreads, 0, H * T, T, S.get<float>(),
           stats + n * H * T, p16.get<Elem>());
    pr.values(p, qkv_n, y + n * T * pr.C);
  }
}

template <class E>
void backward(cudaDataType_t t, int64_t N, int64_t T, int64_t H, int64_t D,
              const typename E::T* qkv, const typename E::T* y, const float2* stats,
              const typename E::T* dy, typename E::T* dqkv) {
  using Elem = typename E::T;
  constexpr bool narrow = !std::is_same_v<E, F32Elem>;
  const Products<Elem> pr = products<Elem>(t, T, H, D);
  const int64_t scores = H * T * T;
  const size_t narrow_bytes = narrow ? static_cast<size_t>(scores) * sizeof(Elem) : 0;
  const Scratch S(static_cast<size_t>(scores) * sizeof(float)),
      dp(static_cast<size_t>(scores) * sizeof(float)), p16(narrow_bytes), ds16(narrow_bytes);
  // The products read P and dS as Elem: the 16-bit copies, or the float S and dP themselves.
  const Elem* p = narrow ? p16.get<Elem>() : reinterpret_cast<const Elem*>(S.get<float>());
  const Elem* ds = narrow ? ds16.get<Elem>() : reinterpret_cast<const Elem*>(dp.get<float>());
  for (int64_t n = 0; n < N; ++n) {
    const Elem* qkv_n = qkv + n * T * pr.C3;
    const Elem* dy_n = dy + n * T * pr.C;
    pr.scores(qkv_n, S.get<float>());
    pr.grad_probs(dy_n, qkv_n, dp.get<float>());
    launch(causal_softmax_backward_kernel<E>, warp_row_blocks(H * T), kThreads, 0, H * T, T, D,
           S.get<float>(), stats + n * H * T, dy_n, y + n * T * pr.C, dp.get<float>(),
           p16.get<Elem>(), ds16.get<Elem>());
    pr.grads(p, ds, qkv_n, dy_n, dqkv + n * T * pr.C3);
  }
}

float2* as_stats(float* stats) { return reinterpret_cast<float2*>(stats); }
const float2* as_stats(const float* stats) { return reinterpret_cast<const float2*>(stats); }

}  // namespace

void attention_forward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv, float* y,
                       float* stats) {
  if (N * T == 0) return;
  forward<F32Elem>(CUDA_R_32F, N, T, H, D, qkv, y, as_stats(stats));
}

void attention_backward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv,
                        const float* y, const float* stats, const float* dy, float* dqkv) {
  if (N * T == 0) return;
  backward<F32Elem>(CUDA_R_32F, N, T, H, D, qkv, y, as_stats(stats), dy, dqkv);
}

void attention_forward_16(bool bf16, int64_t N, int64_t T, int64_t H, int64_t D, const void* qkv,
                          void* y, float* stats) {
  if (N * T == 0) return;
  if (flash_attention_fits(N, H, D, {qkv, y}))
    return flash_attention_forward(bf16, N, T, H, D, qkv, y, stats);
  with_16(bf16, [&](auto e) {
    using E = decltype(e);
    forward<E>(bf16 ? CUDA_R_16BF : CUDA_R_16F, N, T, H, D, as<E>(qkv), as<E>(y), as_stats(stats));
  });
}

void attention_backward_16(bool bf16, int64_t N, int64_t T, int64_t H, int64_t D, const void* qkv,
                           const void* y, const float* stats, const void* dy, void* dqkv) {
  if (N * T == 0) return;
  if (flash_attention_fits(N, H, D, {qkv, y, dy, dqkv}))
    return flash_attention_backward(bf16, N, T, H, D, qkv, y, stats, dy, dqkv);
  with_16(bf16, [&](auto e) {
    using E = decltype(e);
    backward<E>(bf16 ? CUDA_R_16BF : CUDA_R_16F, N, T, H, D, as<E>(qkv), as<E>(y), as_stats(stats),
                as<E>(dy), as<E>(dqkv));
  });
}

}  // namespace trainer::cuda
