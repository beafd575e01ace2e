#include "core/cpu/norm.h"
#include "core/cuda/column_sums.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/norm.cuh"

namespace trainer::cuda {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = kThreads / kWarp;  // one warp per row

__device__ float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__global__ void layer_norm_forward_kernel(int64_t R, int64_t C, const float* x, const float* w,
                                          const float* b, float* y, float* mean, float* rstd) {
  const int64_t r = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= R) return;
  const float* xr = x + r * C;
  float s = 0.0f;
  for (int64_t c = lane; c < C; c += kWarp) s += xr[c];
  const float m = warp_sum(s) / static_cast<float>(C);
  float v = 0.0f;
  for (int64_t c = lane; c < C; c += kWarp) v += (xr[c] - m) * (xr[c] - m);
  const float inv = rsqrtf(warp_sum(v) / static_cast<float>(C) + cpu::kLayerNormEps);
  for (int64_t c = lane; c < C; c += kWarp) y[r * C + c] = (xr[c] - m) * inv * w[c] + b[c];
  if (lane == 0) {
    mean[r] = m;
    rstd[r] = inv;
  }
}

__global__ void layer_norm_dx_kernel(int64_t R, int64_t C, const float* x, const float* w,
                                     const float* mean, const float* rstd, const float* dy,
                                     float* dx) {
  const int64_t r = blockIdx.x * int64_t{kRowsPerBlock} + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= R) return;
  const float m = mean[r], s = rstd[r];
  const float* xr = x + r * C;
  const float* dyr = dy + r * C;
  float sum_g = 0.0f, sum_gx = 0.0f;
  for (int64_t c = lane; c < C; c += kWarp) {
    const float g = dyr[c] * w[c];
    sum_g += g;
    sum_gx += g * (xr[c] - m) * s;
  }
  const float mg = warp_sum(sum_g) / static_cast<float>(C);
  const float mgx = warp_sum(sum_gx) / static_cast<float>(C);
  for (int64_t c = lane; c < C; c += kWarp)
    dx[r * C + c] = (dyr[c] * w[c] - mg - (xr[c] - m) * s * mgx) * s;
}

// dw's term: dy times the normalised input (deterministic column sums, see column_sums.cuh; one
// thread per column over every row left most of the GPU idle for GPT-2's 8,192 rows).
struct NormalisedTimesGrad {
  const float *x, *mean, *rstd, *dy;
  int64_t cols;
  __device__ float operator()(int64_t r, int64_t c) const {
    return dy[r * cols + c] * (x[r * cols + c] - mean[r]) * rstd[r];
  }
};

static unsigned row_blocks(int64_t R) {
  return static_cast<unsigned>((R + kRowsPerBlock - 1) / kRowsPerBlock);
}

void layer_norm_forward(int64_t R, int64_t C, const float* x, const float* w, const float* b,
                        float* y, float* mean, float* rstd) {
  if (R == 0) return;
  layer_norm_forward_kernel<<<row_blocks(R), kThreads, 0, stream()>>>(R, C, x, w, b, y, mean, rstd);
  TRAINER_CHECK_LAUNCH();
}

void layer_norm_backward(int64_t R, int64_t C, const float* x, const float* w, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dw, float* db) {
  if (R == 0) return;
  if (dx) {
    layer_norm_dx_kernel<<<row_blocks(R), kThreads, 0, stream()>>>(R, C, x, w, mean, rstd, dy, dx);
    TRAINER_CHECK_LAUNCH();
  }
  column_reduce(R, C, NormalisedTimesGrad{x, mean, rstd, dy, C}, dw);
  column_sums<float, widen_float>(R, C, dy, db);
}

}  // namespace trainer::cuda
