#include "core/cpu/gelu_tanh.h"
#include "core/cuda/column_sums.cuh"
#include "core/cuda/elementwise.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/scratch.cuh"

namespace trainer::cuda {

#define GRID_STRIDE(i, n)                                                   \
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < (n); \
       i += int64_t{gridDim.x} * blockDim.x)

__global__ void fill_kernel(int64_t n, float value, float* x) { GRID_STRIDE(i, n) x[i] = value; }

void fill(int64_t n, float value, float* x) {
  if (n == 0) return;
  fill_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, value, x);
  TRAINER_CHECK_LAUNCH();
}

// The same formulas as the CPU twin, so the two differ by rounding only.
template <Activation F>
__global__ void activation_forward_kernel(int64_t n, const float* x, float* y) {
  GRID_STRIDE(i, n) {
    const float v = x[i];
    if (F == Activation::ReLU) y[i] = v < 0.0f ? 0.0f : v;  // a NaN passes through
    if (F == Activation::GELU) y[i] = 0.5f * v * (1.0f + erff(v * 0.70710678f));
    if (F == Activation::GELUTanh) y[i] = cpu::gelu_tanh(v);
    if (F == Activation::Tanh) y[i] = tanhf(v);
    if (F == Activation::Sigmoid) y[i] = 1.0f / (1.0f + expf(-v));
  }
}

template <Activation F>
__global__ void activation_backward_kernel(int64_t n, const float* saved, const float* dy,
                                           float* dx) {
  GRID_STRIDE(i, n) {
    const float s = saved[i];
    if (F == Activation::ReLU) dx[i] = s > 0.0f ? dy[i] : 0.0f;
    if (F == Activation::GELU) {
      const float cdf = 0.5f * (1.0f + erff(s * 0.70710678f));
      const float pdf = 0.39894228f * expf(-0.5f * s * s);
      dx[i] = dy[i] * (cdf + s * pdf);
    }
    if (F == Activation::GELUTanh) dx[i] = dy[i] * cpu::gelu_tanh_grad(s);
    if (F == Activation::Tanh) dx[i] = dy[i] * (1.0f - s * s);
    if (F == Activation::Sigmoid) dx[i] = dy[i] * s * (1.0f - s);
  }
}

template <template <Activation> class Launch, class... Args>
static void dispatch(Activation f, Args... args) {
  switch (f) {
    case Activation::ReLU:
      return Launch<Activation::ReLU>::run(args...);
    case Activation::GELU:
      return Launch<Activation::GELU>::run(args...);
    case Activation::GELUTanh:
      return Launch<Activation::GELUTanh>::run(args...);
    case Activation::Tanh:
      return Launch<Activation::Tanh>::run(args...);
    case Activation::Sigmoid:
      return Launch<Activation::Sigmoid>::run(args...);
  }
}

template <Activation F>
struct Forward {
  static void run(int64_t n, const float* x, float* y) {
    activation_forward_kernel<F><<<blocks_for(n), kThreads, 0, stream()>>>(n, x, y);
  }
};
template <Activation F>
struct Backward {
  static void run(int64_t n, const float* saved, const float* dy, float* dx) {
    activation_backward_kernel<F><<<blocks_for(n), kThreads, 0, stream()>>>(n, saved, dy, dx);
  }
};

void activation_forward(Activation f, int64_t n, const float* x, float* y) {
  if (n == 0) return;
  dispatch<Forward>(f, n, x, y);
  TRAINER_CHECK_LAUNCH();
}

void activation_backward(Activation f, int64_t n, const float* saved, const float* dy, float* dx) {
  if (n == 0) return;
  dispatch<Backward>(f, n, saved, dy, dx);
  TRAINER_CHECK_LAUNCH();
}

void sum_rows(int64_t rows, int64_t cols, const float* dy, float* db) {
  column_sums<float, widen_float>(rows, cols, dy, db);
}

__global__ void add_kernel(int64_t n, const float* a, const float* b, float* y) {
  GRID_STRIDE(i, n) y[i] = a[i] + b[i];
}

void add(int64_t n, const float* a, const float* b, float* y) {
  if (n == 0) return;
  add_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, a, b, y);
  TRAINER_CHECK_LAUNCH();
}

// The mask is drawn here, on the device, from the same counter-based streams as on the CPU: rows
// of the grid are samples (each thread folds its sample's key once), columns their elements.
__global__ void dropout_kernel(int64_t N, int64_t per, cpu::DropoutMask mask, const float* x,
                               float* y) {
  for (int64_t n = blockIdx.y; n < N; n += gridDim.y) {
    const uint64_t key = cpu::dropout_sample_key(mask, n);
    GRID_STRIDE(i, per) y[n * per + i] = x[n * per + i] * cpu::dropout_factor(mask, key, i);
  }
}

void dropout(int64_t N, int64_t per, const cpu::DropoutMask& mask, const float* x, float* y) {
  if (N * per == 0) return;
  // About as many blocks in all as blocks_for gives one long loop (H100: 132 SMs x 8).
  const unsigned rows = static_cast<unsigned>(std::min<int64_t>(N, 65535));
  const unsigned columns = std::min(blocks_for(per), std::max(1u, 132 * 8 / rows));
  const dim3 grid(columns, rows);
  dropout_kernel<<<grid, kThreads, 0, stream()>>>(N, per, mask, x, y);
  TRAINER_CHECK_LAUNCH();
}

__global__ void scale_kernel(int64_t n, float alpha, float* x) { GRID_STRIDE(i, n) x[i] *= alpha; }

void scale(int64_t n, float alpha, float* x) {
  if (n == 0) return;
  scale_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, alpha, x);
  TRAINER_CHECK_LAUNCH();
}

// Each block sums its grid-stride share in double and writes one partial; the host adds the
// partials (at most blocks_for(n) of them), so the result is accumulated in double throughout.
__global__ void sum_squares_kernel(int64_t n, const float* x, double* partial) {
  __shared__ double shared[kThreads];
  double s = 0.0;
  GRID_STRIDE(i, n) s += static_cast<double>(x[i]) * x[i];
  shared[threadIdx.x] = s;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = shared[0];
}

double sum_squares(int64_t n, const float* x) {
  if (n == 0) return 0.0;
  const unsigned blocks = blocks_for(n);
  const Scratch partial(blocks * sizeof(double));
  sum_squares_kernel<<<blocks, kThreads, 0, stream()>>>(n, x, partial.get<double>());
  TRAINER_CHECK_LAUNCH();
  double host[132 * 8];
  copy(host, partial.get(), partial.bytes());
  double s = 0.0;
  for (unsigned b = 0; b < blocks; ++b) s += host[b];
  return s;
}

}  // namespace trainer::cuda
