#include "core/cuda/element.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/pool.cuh"

namespace trainer::cuda {

// One thread per output element, each running the CPU twin's window scan; elements of type E.
template <class E>
__global__ void maxpool_forward_kernel(PoolGeometry g, int64_t total, const typename E::T* x,
                                       typename E::T* y, int32_t* argmax) {
  for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < total;
       o += int64_t{gridDim.x} * blockDim.x) {
    const int64_t p = o / (g.OH * g.OW), within = o % (g.OH * g.OW);
    const typename E::T* plane = x + p * g.H * g.W;
    int64_t best = 0;
    y[o] = E::put(cpu::max_window(
        g, [plane](int64_t i) { return E::get(plane[i]); }, within / g.OW, within % g.OW, &best));
    argmax[o] = static_cast<int32_t>(best);
  }
}

// The first window that can hold row (or column) h: windows start every `stride` and span K.
__device__ inline int64_t first_window(int64_t h, int64_t K, int64_t stride) {
  return h >= K ? (h - K) / stride + 1 : 0;
}

// One thread per input element gathers the gradients of the windows whose max it is, in the
// windows' order: the CPU twin scatters them in that order too, so the sums agree bit for bit,
// overlapping windows (stride < K) included, with no atomics.
template <class E>
__global__ void maxpool_backward_kernel(PoolGeometry g, int64_t total, const typename E::T* dy,
                                        const int32_t* argmax, typename E::T* dx) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t p = i / (g.H * g.W), at = i % (g.H * g.W), h = at / g.W, w = at % g.W;
    const typename E::T* d = dy + p * g.OH * g.OW;
    const int32_t* arg = argmax + p * g.OH * g.OW;
    float acc = 0.0f;
    const int64_t oh_end = min(g.OH, h / g.stride + 1), ow_end = min(g.OW, w / g.stride + 1);
    for (int64_t oh = first_window(h, g.K, g.stride); oh < oh_end; ++oh)
      for (int64_t ow = first_window(w, g.K, g.stride); ow < ow_end; ++ow)
        if (arg[oh * g.OW + ow] == at) acc += E::get(d[oh * g.OW + ow]);
    dx[i] = E::put(acc);
  }
}

template <class E>
static void forward(const PoolGeometry& g, int64_t planes, const void* x, void* y,
                    int32_t* argmax) {
  const int64_t total = planes * g.OH * g.OW;
  if (total == 0) return;
  launch(maxpool_forward_kernel<E>, blocks_for(total), kThreads, 0, g, total, as<E>(x), as<E>(y),
         argmax);
}

template <class E>
static void backward(const PoolGeometry& g, int64_t planes, const void* dy, const int32_t* argmax,
                     void* dx) {
  const int64_t total = planes * g.H * g.W;
  if (total == 0) return;
  launch(maxpool_backward_kernel<E>, blocks_for(total), kThreads, 0, g, total, as<E>(dy), argmax,
         as<E>(dx));
}

void maxpool_forward(const PoolGeometry& g, int64_t planes, const float* x, float* y,
                     int32_t* argmax) {
  forward<F32Elem>(g, planes, x, y, argmax);
}

void maxpool_backward(const PoolGeometry& g, int64_t planes, const float* dy, const int32_t* argmax,
                      float* dx) {
  backward<F32Elem>(g, planes, dy, argmax, dx);
}

void maxpool_forward_16(bool bf16, const PoolGeometry& g, int64_t planes, const void* x, void* y,
                        int32_t* argmax) {
  with_16(bf16, [&](auto e) { forward<decltype(e)>(g, planes, x, y, argmax); });
}

void maxpool_backward_16(bool bf16, const PoolGeometry& g, int64_t planes, const void* dy,
                         const int32_t* argmax, void* dx) {
  with_16(bf16, [&](auto e) { backward<decltype(e)>(g, planes, dy, argmax, dx); });
}

}  // namespace trainer::cuda
