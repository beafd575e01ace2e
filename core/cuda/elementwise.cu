#include "core/cpu/gelu_tanh.h"
#include "core/cuda/column_sums.cuh"
#include "core/cuda/element.cuh"
#include "core/cuda/elementwise.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/reduce.cuh"
#include "core/cuda/scratch.cuh"

namespace trainer::cuda {

#define GRID_STRIDE(i, n)                                                   \
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < (n); \
       i += int64_t{gridDim.x} * blockDim.x)

__global__ void fill_kernel(int64_t n, float value, float* x) { GRID_STRIDE(i, n) x[i] = value; }

void fill(int64_t n, float value, float* x) {
  if (n == 0) return;
  launch(fill_kernel, blocks_for(n), kThreads, 0, n, value, x);
}

// The same formulas as the CPU twin, so the two differ by rounding only; elements of type E.
template <Activation F, class E>
__global__ void activation_forward_kernel(int64_t n, const typename E::T* x, typename E::T* y) {
  GRID_STRIDE(i, n) {
    const float v = E::get(x[i]);
    float r = 0.0f;
    if (F == Activation::ReLU) r = v < 0.0f ? 0.0f : v;  // a NaN passes through
    if (F == Activation::GELU) r = 0.5f * v * (1.0f + erff(v * 0.70710678f));
    if (F == Activation::GELUTanh) r = cpu::gelu_tanh(v);
    if (F == Activation::Tanh) r = tanhf(v);
    if (F == Activation::Sigmoid) r = 1.0f / (1.0f + expf(-v));
    y[i] = E::put(r);
  }
}

template <Activation F, class E>
__global__ void activation_backward_kernel(int64_t n, const typename E::T* saved,
                                           const typename E::T* dy, typename E::T* dx) {
  GRID_STRIDE(i, n) {
    const float s = E::get(saved[i]), g = E::get(dy[i]);
    float r = 0.0f;
    if (F == Activation::ReLU) r = s > 0.0f ? g : 0.0f;
    if (F == Activation::GELU) {
      const float cdf = 0.5f * (1.0f + erff(s * 0.70710678f));
      const float pdf = 0.39894228f * expf(-0.5f * s * s);
      r = g * (cdf + s * pdf);
    }
    if (F == Activation::GELUTanh) r = g * cpu::gelu_tanh_grad(s);
    if (F == Activation::Tanh) r = g * (1.0f - s * s);
    if (F == Activation::Sigmoid) r = g * s * (1.0f - s);
    dx[i] = E::put(r);
  }
}

template <template <Activation, class> class Launch, class E, class... Args>
static void dispatch(Activation f, Args... args) {
  switch (f) {
    case Activation::ReLU:
      return Launch<Activation::ReLU, E>::run(args...);
    case Activation::GELU:
      return Launch<Activation::GELU, E>::run(args...);
    case Activation::GELUTanh:
      return Launch<Activation::GELUTanh, E>::run(args...);
    case Activation::Tanh:
      return Launch<Activation::Tanh, E>::run(args...);
    case Activation::Sigmoid:
      return Launch<Activation::Sigmoid, E>::run(args...);
  }
}

template <Activation F, class E>
struct Forward {
  static void run(int64_t n, const void* x, void* y) {
    launch(activation_forward_kernel<F, E>, blocks_for(n), kThreads, 0, n, as<E>(x), as<E>(y));
  }
};
template <Activation F, class E>
struct Backward {
  static void run(int64_t n, const void* saved, const void* dy, void* dx) {
    launch(activation_backward_kernel<F, E>, blocks_for(n), kThreads, 0, n, as<E>(saved), as<E>(dy),
           as<E>(dx));
  }
};

void activation_forward(Activation f, int64_t n, const float* x, float* y) {
  if (n == 0) return;
  dispatch<Forward, F32Elem>(f, n, static_cast<const void*>(x), static_cast<void*>(y));
}

void activation_backward(Activation f, int64_t n, const float* saved, const float* dy, float* dx) {
  if (n == 0) return;
  dispatch<Backward, F32Elem>(f, n, static_cast<const void*>(saved), static_cast<const void*>(dy),
                              static_cast<void*>(dx));
}

void activation_forward_16(bool bf16, Activation f, int64_t n, const void* x, void* y) {
  if (n == 0) return;
  with_16(bf16, [&](auto e) { dispatch<Forward, decltype(e)>(f, n, x, y); });
}

void activation_backward_16(bool bf16, Activation f, int64_t n, const void* saved, const void* dy,
                            void* dx) {
  if (n == 0) return;
  with_16(bf16, [&](auto e) { dispatch<Backward, decltype(e)>(f, n, saved, dy, dx); });
}

void sum_rows(int64_t rows, int64_t cols, const float* dy, float* db) {
  column_sums<F32Elem>(rows, cols, dy, db);
}

template <class E>
__global__ void add_kernel(int64_t n, const typename E::T* a, const typename E::T* b,
                           typename E::T* y) {
  GRID_STRIDE(i, n) y[i] = E::put(E::get(a[i]) + E::get(b[i]));
}

void add(int64_t n, const float* a, const float* b, float* y) {
  if (n == 0) return;
  launch(add_kernel<F32Elem>, blocks_for(n), kThreads, 0, n, a, b, y);
}

void add_16(bool bf16, int64_t n, const void* a, const void* b, void* y) {
  if (n == 0) return;
  with_16(bf16, [&](auto e) {
    using E = decltype(e);
    launch(add_kernel<E>, blocks_for(n), kThreads, 0, n, as<E>(a), as<E>(b), as<E>(y));
  });
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
  launch(dropout_kernel, grid, kThreads, 0, N, per, mask, x, y);
}

__global__ void scale_by_kernel(int64_t n, const float* alpha, float* x) {
  const float a = *alpha;
  GRID_STRIDE(i, n) x[i] *= a;
}

void scale_by(int64_t n, const float* alpha, float* x) {
  if (n == 0) return;
  launch(scale_by_kernel, blocks_for(n), kThreads, 0, n, alpha, x);
}

// Each block sums its grid-stride share in double and writes one partial; the host (or the
// update's decision kernel) adds the blocks_for(n) partials in block order, so the result is
// accumulated in double throughout.
__global__ void sum_squares_kernel(int64_t n, const float* x, double* partial) {
  __shared__ double shared[kThreads];
  double s = 0.0;
  GRID_STRIDE(i, n) s += static_cast<double>(x[i]) * x[i];
  s = block_reduce(s, shared, AddOp{});
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

void sum_squares_partials(int64_t n, const float* x, double* partial) {
  launch(sum_squares_kernel, blocks_for(n), kThreads, 0, n, x, partial);
}

double sum_squares(int64_t n, const float* x) {
  if (n == 0) return 0.0;
  const unsigned blocks = blocks_for(n);
  const Scratch partial(blocks * sizeof(double));
  sum_squares_partials(n, x, partial.get<double>());
  double host[132 * 8];
  copy(host, partial.get(), partial.bytes());
  double s = 0.0;
  for (unsigned b = 0; b < blocks; ++b) s += host[b];
  return s;
}

}  // namespace trainer::cuda
