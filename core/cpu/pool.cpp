#include "core/cpu/pool.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/cpu/parallel.h"

namespace trainer::cpu {

// Planes per thread: enough that each thread has some 32k input elements to scan.
static int64_t plane_grain(const PoolGeometry& g) {
  return std::max<int64_t>(1, (int64_t{1} << 15) / (g.H * g.W));
}

void maxpool_forward(const PoolGeometry& g, int64_t planes, const float* x, float* y,
                     int32_t* argmax) {
  parallel_ranges(planes, plane_grain(g), [&](int, int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* in = x + p * g.H * g.W;
      float* out = y + p * g.OH * g.OW;
      int32_t* arg = argmax + p * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          int64_t best = (oh * g.stride) * g.W + ow * g.stride;
          for (int64_t kh = 0; kh < g.K; ++kh)
            for (int64_t kw = 0; kw < g.K; ++kw) {
              int64_t idx = (oh * g.stride + kh) * g.W + ow * g.stride + kw;
              // A NaN wins, so it propagates to the loss instead of being silently dropped.
              if (in[idx] > in[best] || std::isnan(in[idx])) best = idx;
            }
          out[oh * g.OW + ow] = in[best];
          arg[oh * g.OW + ow] = static_cast<int32_t>(best);
        }
    }
  });
}

void maxpool_backward(const PoolGeometry& g, int64_t planes, const float* dy, const int32_t* argmax,
                      float* dx) {
  parallel_ranges(planes, plane_grain(g), [&](int, int64_t begin, int64_t end) {
    std::memset(dx + begin * g.H * g.W, 0,
                sizeof(float) * static_cast<size_t>((end - begin) * g.H * g.W));
    for (int64_t p = begin; p < end; ++p) {
      float* d = dx + p * g.H * g.W;
      const float* g_out = dy + p * g.OH * g.OW;
      const int32_t* arg = argmax + p * g.OH * g.OW;
      for (int64_t i = 0; i < g.OH * g.OW; ++i) d[arg[i]] += g_out[i];
    }
  });
}

}  // namespace trainer::cpu
