#include "core/cpu/pool.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/cpu/parallel.h"

namespace trainer::cpu {

// Planes per thread: enough that each thread has some 32k input elements to scan.
static int64_t plane_grain(const PoolGeometry& g) {
  return std::max<int64_t>(1, (int64_t{1} << 15) / (g.H * g.W));
}

// The common 2x2, stride 2 window, written out so the compiler keeps everything in registers
// and vectorises across the row: measured 2x faster than the general loop.
static void maxpool_2x2(int64_t H, int64_t W, int64_t OH, int64_t OW, const float* in, float* out,
                        int32_t* arg) {
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  for (int64_t oh = 0; oh < OH; ++oh) {
    const float* r0 = in + 2 * oh * W;
    const float* r1 = r0 + W;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
      const int32_t i0 = static_cast<int32_t>(2 * oh * W + 2 * ow);
      float m = a;
      int32_t best = i0;
      best = b > m ? i0 + 1 : best;
      m = b > m ? b : m;
      best = c > m ? i0 + static_cast<int32_t>(W) : best;
      m = c > m ? c : m;
      best = d > m ? i0 + static_cast<int32_t>(W) + 1 : best;
      m = d > m ? d : m;
      const bool nan = (a != a) | (b != b) | (c != c) | (d != d);
      out[oh * OW + ow] = nan ? kNaN : m;
      arg[oh * OW + ow] = best;
    }
  }
  (void)H;
}

void maxpool_forward(const PoolGeometry& g, int64_t planes, const float* x, float* y,
                     int32_t* argmax) {
  if (g.K == 2 && g.stride == 2) {
    parallel_ranges(planes, plane_grain(g), [&](int, int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p)
        maxpool_2x2(g.H, g.W, g.OH, g.OW, x + p * g.H * g.W, y + p * g.OH * g.OW,
                    argmax + p * g.OH * g.OW);
    });
    return;
  }
  parallel_ranges(planes, plane_grain(g), [&](int, int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const float* in = x + p * g.H * g.W;
      float* out = y + p * g.OH * g.OW;
      int32_t* arg = argmax + p * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          int64_t best = 0;
          out[oh * g.OW + ow] = max_window(
              g, [in](int64_t i) { return in[i]; }, oh, ow, &best);
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
