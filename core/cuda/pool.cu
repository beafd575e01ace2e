#include "core/cuda/launch.cuh"
#include "core/cuda/pool.cuh"

namespace trainer::cuda {

// One thread per output element, each running the CPU twin's window scan.
__global__ void maxpool_forward_kernel(PoolGeometry g, int64_t total, const float* x, float* y,
                                       int32_t* argmax) {
  for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < total;
       o += int64_t{gridDim.x} * blockDim.x) {
    const int64_t plane = o / (g.OH * g.OW), within = o % (g.OH * g.OW);
    const int64_t oh = within / g.OW, ow = within % g.OW;
    int64_t best = 0;
    y[o] = cpu::max_window(g, x + plane * g.H * g.W, oh, ow, &best);
    argmax[o] = static_cast<int32_t>(best);
  }
}

// Windows overlap when stride < K, so several outputs may scatter into one input: atomics.
__global__ void maxpool_backward_kernel(PoolGeometry g, int64_t total, const float* dy,
                                        const int32_t* argmax, float* dx) {
  for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < total;
       o += int64_t{gridDim.x} * blockDim.x) {
    const int64_t plane = o / (g.OH * g.OW);
    atomicAdd(dx + plane * g.H * g.W + argmax[o], dy[o]);
  }
}

void maxpool_forward(const PoolGeometry& g, int64_t planes, const float* x, float* y,
                     int32_t* argmax) {
  const int64_t total = planes * g.OH * g.OW;
  if (total == 0) return;
  maxpool_forward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(g, total, x, y, argmax);
  TRAINER_CHECK_LAUNCH();
}

void maxpool_backward(const PoolGeometry& g, int64_t planes, const float* dy, const int32_t* argmax,
                      float* dx) {
  memset_zero(dx, sizeof(float) * static_cast<size_t>(planes * g.H * g.W));
  const int64_t total = planes * g.OH * g.OW;
  if (total == 0) return;
  maxpool_backward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(g, total, dy, argmax, dx);
  TRAINER_CHECK_LAUNCH();
}

}  // namespace trainer::cuda
