// Max pooling over NCHW planes; the argmax of each window is kept for backward.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/host_device.h"

namespace trainer::cpu {

struct PoolGeometry {
  int64_t H, W, K, stride, OH, OW;
};

// The max of window (oh, ow) of one plane and where it is (index within the plane); plane(i) is
// the plane's element i as a float. A NaN in the window wins, so it reaches the loss instead of
// being silently dropped. Shared with the CUDA kernels.
template <class Plane>
TRAINER_HD inline float max_window(const PoolGeometry& g, const Plane& plane, int64_t oh,
                                   int64_t ow, int64_t* where) {
  const int64_t corner = oh * g.stride * g.W + ow * g.stride;
  int64_t best = corner;
  float m = plane(corner);
  bool nan = false;
  for (int64_t kh = 0; kh < g.K; ++kh)
    for (int64_t kw = 0; kw < g.K; ++kw) {
      const int64_t idx = corner + kh * g.W + kw;
      const float v = plane(idx);
      nan |= v != v;
      const bool larger = v > m;  // selects, not a branch: the winner is data-dependent
      best = larger ? idx : best;
      m = larger ? v : m;
    }
  *where = best;
  return nan ? nanf("") : m;
}

// x(planes, H, W) -> y(planes, OH, OW), argmax(planes, OH, OW) = index within the plane
void maxpool_forward(const PoolGeometry& g, int64_t planes, const float* x, float* y,
                     int32_t* argmax);
// dx(planes, H, W) = scatter of dy through argmax (dx is overwritten)
void maxpool_backward(const PoolGeometry& g, int64_t planes, const float* dy, const int32_t* argmax,
                      float* dx);

}  // namespace trainer::cpu
