#include "core/cpu/attention.h"

#include <cmath>
#include <vector>

#include "core/cpu/blas.h"
#include "core/cpu/parallel.h"

namespace trainer::cpu {

// Each (sequence, head) pair is one task with GEMMs of fixed shapes, so the results do not
// depend on the thread count.
void attention_forward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv, float* y,
                       float* att) {
  const int64_t C = H * D, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  parallel_ranges(N * H, 1, [&](int, int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / H, h = task % H;
      const float* q = qkv + n * T * C3 + h * D;
      const float* k = q + C;
      const float* v = q + 2 * C;
      float* p = att + task * T * T;  // (T, T) of head h of sequence n
      // Scores q kᵀ / sqrt(D): the full square, the upper triangle masked below.
      gemm_strided(false, true, T, T, D, scale, q, C3, k, C3, 0.0f, p, T);
      for (int64_t t = 0; t < T; ++t) {
        float* row = p + t * T;
        float mx = row[0];
        for (int64_t s = 1; s <= t; ++s) mx = std::max(mx, row[s]);
        float sum = 0.0f;
        for (int64_t s = 0; s <= t; ++s) {
          row[s] = std::exp(row[s] - mx);
          sum += row[s];
        }
        const float inv = 1.0f / sum;
        for (int64_t s = 0; s <= t; ++s) row[s] *= inv;
        for (int64_t s = t + 1; s < T; ++s) row[s] = 0.0f;
      }
      gemm_strided(false, false, T, D, T, 1.0f, p, T, v, C3, 0.0f, y + n * T * C + h * D, C);
    }
  });
}

void attention_backward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv,
                        const float* att, const float* dy, float* dqkv) {
  const int64_t C = H * D, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  parallel_ranges(N * H, 1, [&](int, int64_t begin, int64_t end) {
    std::vector<float> dp(static_cast<size_t>(T * T));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / H, h = task % H;
      const float* q = qkv + n * T * C3 + h * D;
      const float* k = q + C;
      const float* v = q + 2 * C;
      float* dq = dqkv + n * T * C3 + h * D;
      float* dk = dq + C;
      float* dv = dq + 2 * C;
      const float* p = att + task * T * T;
      const float* dyh = dy + n * T * C + h * D;
      gemm_strided(false, true, T, T, D, 1.0f, dyh, C, v, C3, 0.0f, dp.data(), T);  // dP = dy vᵀ
      gemm_strided(true, false, T, D, T, 1.0f, p, T, dyh, C, 0.0f, dv, C3);         // dv = Pᵀ dy
      // Through the softmax: dS = P (dP - Σ_s P dP), zero where masked (P = 0 there).
      for (int64_t t = 0; t < T; ++t) {
        const float* pr = p + t * T;
        float* dr = dp.data() + t * T;
        float dot = 0.0f;
        for (int64_t s = 0; s <= t; ++s) dot += pr[s] * dr[s];
        for (int64_t s = 0; s <= t; ++s) dr[s] = pr[s] * (dr[s] - dot);
        for (int64_t s = t + 1; s < T; ++s) dr[s] = 0.0f;
      }
      gemm_strided(false, false, T, D, T, scale, dp.data(), T, k, C3, 0.0f, dq, C3);  // dq = dS k
      gemm_strided(true, false, T, D, T, scale, dp.data(), T, q, C3, 0.0f, dk, C3);  // dk = dSᵀ q
    }
  });
}

}  // namespace trainer::cpu
