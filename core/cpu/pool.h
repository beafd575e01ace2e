// Max pooling over NCHW planes; the argmax of each window is kept for backward.
#pragma once

#include <cstdint>

namespace trainer::cpu {

struct PoolGeometry {
  int64_t H, W, K, stride, OH, OW;
};

// x(planes, H, W) -> y(planes, OH, OW), argmax(planes, OH, OW) = index within the plane
void maxpool_forward(const PoolGeometry& g, int64_t planes, const float* x, float* y,
                     int32_t* argmax);
// dx(planes, H, W) = scatter of dy through argmax (dx is overwritten)
void maxpool_backward(const PoolGeometry& g, int64_t planes, const float* dy, const int32_t* argmax,
                      float* dx);

}  // namespace trainer::cpu
