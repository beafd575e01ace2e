#include "core/cpu/norm.h"
#include "core/cuda/column_sums.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/norm.cuh"
#include "core/cuda/reduce.cuh"

namespace trainer::cuda {

// Elements of x, w, b, y, dy and dx of type E; mean, rstd and the gradients dw, db float.
template <class E>
__global__ void layer_norm_forward_kernel(int64_t R, int64_t C, const typename E::T* x,
                                          const typename E::T* w, const typename E::T* b,
                                          typename E::T* y, float* mean, float* rstd) {
  const int64_t r = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= R) return;
  const typename E::T* xr = x + r * C;
  float s = 0.0f;
  for (int64_t c = lane; c < C; c += kWarp) s += E::get(xr[c]);
  const float m = warp_sum(s) / static_cast<float>(C);
  float v = 0.0f;
  for (int64_t c = lane; c < C; c += kWarp) {
    const float d = E::get(xr[c]) - m;
    v += d * d;
  }
  const float inv = rsqrtf(warp_sum(v) / static_cast<float>(C) + cpu::kLayerNormEps);
  for (int64_t c = lane; c < C; c += kWarp)
    y[r * C + c] = E::put((E::get(xr[c]) - m) * inv * E::get(w[c]) + E::get(b[c]));
  if (lane == 0) {
    mean[r] = m;
    rstd[r] = inv;
  }
}

template <class E>
__global__ void layer_norm_dx_kernel(int64_t R, int64_t C, const typename E::T* x,
                                     const typename E::T* w, const float* mean, const float* rstd,
                                     const typename E::T* dy, typename E::T* dx) {
  const int64_t r = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= R) return;
  const float m = mean[r], s = rstd[r];
  const typename E::T* xr = x + r * C;
  const typename E::T* dyr = dy + r * C;
  float sum_g = 0.0f, sum_gx = 0.0f;
  for (int64_t c = lane; c < C; c += kWarp) {
    const float g = E::get(dyr[c]) * E::get(w[c]);
    sum_g += g;
    sum_gx += g * (E::get(xr[c]) - m) * s;
  }
  const float mg = warp_sum(sum_g) / static_cast<float>(C);
  const float mgx = warp_sum(sum_gx) / static_cast<float>(C);
  for (int64_t c = lane; c < C; c += kWarp)
    dx[r * C + c] =
        E::put((E::get(dyr[c]) * E::get(w[c]) - mg - (E::get(xr[c]) - m) * s * mgx) * s);
}

// dw's term: dy times the normalised input (deterministic column sums, see column_sums.cuh; one
// thread per column over every row left most of the GPU idle for GPT-2's 8,192 rows).
template <class E>
struct NormalisedTimesGrad {
  const typename E::T *x, *dy;
  const float *mean, *rstd;
  int64_t cols;
  __device__ float operator()(int64_t r, int64_t c) const {
    return E::get(dy[r * cols + c]) * (E::get(x[r * cols + c]) - mean[r]) * rstd[r];
  }
};

template <class E>
static void forward(int64_t R, int64_t C, const void* x, const void* w, const void* b, void* y,
                    float* mean, float* rstd) {
  if (R == 0) return;
  launch(layer_norm_forward_kernel<E>, warp_row_blocks(R), kThreads, 0, R, C, as<E>(x), as<E>(w),
         as<E>(b), as<E>(y), mean, rstd);
}

template <class E>
static void backward(int64_t R, int64_t C, const void* x, const void* w, const float* mean,
                     const float* rstd, const void* dy, void* dx, float* dw, float* db) {
  if (R == 0) return;
  if (dx) {
    launch(layer_norm_dx_kernel<E>, warp_row_blocks(R), kThreads, 0, R, C, as<E>(x), as<E>(w), mean,
           rstd, as<E>(dy), as<E>(dx));
  }
  column_reduce(R, C, NormalisedTimesGrad<E>{as<E>(x), as<E>(dy), mean, rstd, C}, dw);
  column_sums<E>(R, C, as<E>(dy), db);
}

void layer_norm_forward(int64_t R, int64_t C, const float* x, const float* w, const float* b,
                        float* y, float* mean, float* rstd) {
  forward<F32Elem>(R, C, x, w, b, y, mean, rstd);
}

void layer_norm_backward(int64_t R, int64_t C, const float* x, const float* w, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dw, float* db) {
  backward<F32Elem>(R, C, x, w, mean, rstd, dy, dx, dw, db);
}

void layer_norm_forward_16(bool bf16, int64_t R, int64_t C, const void* x, const void* w,
                           const void* b, void* y, float* mean, float* rstd) {
  with_16(bf16, [&](auto e) { forward<decltype(e)>(R, C, x, w, b, y, mean, rstd); });
}

void layer_norm_backward_16(bool bf16, int64_t R, int64_t C, const void* x, const void* w,
                            const float* mean, const float* rstd, const void* dy, void* dx,
                            float* dw, float* db) {
  with_16(bf16, [&](auto e) { backward<decltype(e)>(R, C, x, w, mean, rstd, dy, dx, dw, db); });
}

}  // namespace trainer::cuda
