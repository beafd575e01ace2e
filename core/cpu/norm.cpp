#include "core/cpu/norm.h"

#include <cmath>

#include "core/cpu/lanes.h"
#include "core/cpu/parallel.h"

namespace trainer::cpu {

// Rows per thread: at least this many features' worth of work each.
static int64_t row_grain(int64_t C) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(C, 1));
}

void layer_norm_forward(int64_t R, int64_t C, const float* x, const float* w, const float* b,
                        float* y, float* mean, float* rstd) {
  parallel_ranges(R, row_grain(C), [&](int, int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = x + r * C;
      float* yr = y + r * C;
      const float m = lane_sum(C, [&](int64_t c) { return xr[c]; }) / static_cast<float>(C);
      const float v =
          lane_sum(C, [&](int64_t c) { return (xr[c] - m) * (xr[c] - m); }) / static_cast<float>(C);
      const float s = 1.0f / std::sqrt(v + kLayerNormEps);
      for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - m) * s * w[c] + b[c];
      mean[r] = m;
      rstd[r] = s;
    }
  });
}

void layer_norm_backward(int64_t R, int64_t C, const float* x, const float* w, const float* mean,
                         const float* rstd, const float* dy, float* dx, float* dw, float* db) {
  parallel_accumulate(
      R, row_grain(C), {{dw, C}, {db, C}},
      [&](int, int64_t begin, int64_t end, float* const* part) {
        float* pdw = part[0];
        float* pdb = part[1];
        for (int64_t r = begin; r < end; ++r) {
          const float* xr = x + r * C;
          const float* dyr = dy + r * C;
          const float m = mean[r], s = rstd[r];
          for (int64_t c = 0; c < C; ++c) {
            pdw[c] += dyr[c] * ((xr[c] - m) * s);  // dy x̂
            pdb[c] += dyr[c];
          }
          if (!dx) continue;
          // Σ dy w and Σ dy w x̂, each over the row.
          const float mg =
              lane_sum(C, [&](int64_t c) { return dyr[c] * w[c]; }) / static_cast<float>(C);
          const float mgx =
              lane_sum(C, [&](int64_t c) { return dyr[c] * w[c] * ((xr[c] - m) * s); }) /
              static_cast<float>(C);
          float* dxr = dx + r * C;
          for (int64_t c = 0; c < C; ++c) {
            const float xhat = (xr[c] - m) * s;
            dxr[c] = (dyr[c] * w[c] - mg - xhat * mgx) * s;
          }
        }
      });
}

}  // namespace trainer::cpu
