#include "core/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu/blas.h"
#include "core/cpu/exp_poly.h"
#include "core/cpu/lanes.h"
#include "core/cpu/parallel.h"

namespace trainer::cpu {

// Causal attention in row blocks: rows [r0, r1) of a head attend to positions [0, r1) only, so
// the products skip the masked upper triangle block by block (at T = 128 and 32-row blocks,
// 10 of the 16 tiles of the square are computed). Blocks and GEMM shapes depend on T alone,
// and each (sequence, head) pair is one task, so the results do not depend on the thread count.
constexpr int64_t kRowBlock = 32;

// Rows [r0, r1) of one head's scores, scale q kᵀ over positions [0, r1), into p (ld T). Forward
// and backward call it with the same shapes, so backward's scores are forward's bit for bit.
static void scores(int64_t r0, int64_t r1, int64_t D, int64_t C3, float scale, const float* q,
                   const float* k, float* p, int64_t T) {
  gemm_strided(false, true, r1 - r0, r1, D, scale, q + r0 * C3, C3, k, C3, 0.0f, p, T);
}

// Softmax of row[0..t] in place (exp_poly: a loop that vectorises), zeros after, up to `end`;
// the row's (max, 1 / sum) into stat.
static void causal_softmax_row(float* row, int64_t t, int64_t end, float* stat) {
  const float mx = lane_max(t + 1, [&](int64_t s) { return row[s]; });
  for (int64_t s = 0; s <= t; ++s) row[s] = exp_poly(row[s] - mx);
  const float inv = 1.0f / lane_sum(t + 1, [&](int64_t s) { return row[s]; });
  for (int64_t s = 0; s <= t; ++s) row[s] *= inv;
  std::fill(row + t + 1, row + end, 0.0f);
  stat[0] = mx;
  stat[1] = inv;
}

// The probabilities of row[0..t] from its scores and forward's stat, as causal_softmax_row made
// them; zeros after, up to `end`.
static void probabilities_row(float* row, int64_t t, int64_t end, const float* stat) {
  for (int64_t s = 0; s <= t; ++s) row[s] = exp_poly(row[s] - stat[0]);
  for (int64_t s = 0; s <= t; ++s) row[s] *= stat[1];
  std::fill(row + t + 1, row + end, 0.0f);
}

void attention_forward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv, float* y,
                       float* stats) {
  const int64_t C = H * D, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  parallel_ranges(N * H, 1, [&](int, int64_t begin, int64_t end) {
    std::vector<float> p(static_cast<size_t>(kRowBlock * T));  // a row block's probabilities
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / H, h = task % H;
      const float* q = qkv + n * T * C3 + h * D;
      const float* k = q + C;
      const float* v = q + 2 * C;
      float* st = stats + task * T * 2;  // (T, 2) of head h of sequence n
      float* yh = y + n * T * C + h * D;
      for (int64_t r0 = 0; r0 < T; r0 += kRowBlock) {
        const int64_t r1 = std::min(T, r0 + kRowBlock), rows = r1 - r0;
        scores(r0, r1, D, C3, scale, q, k, p.data(), T);
        for (int64_t t = r0; t < r1; ++t)
          causal_softmax_row(p.data() + (t - r0) * T, t, r1, st + t * 2);
        gemm_strided(false, false, rows, D, r1, 1.0f, p.data(), T, v, C3, 0.0f, yh + r0 * C, C);
      }
    }
  });
}

void attention_backward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv,
                        const float* y, const float* stats, const float* dy, float* dqkv) {
  const int64_t C = H * D, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  parallel_ranges(N * H, 1, [&](int, int64_t begin, int64_t end) {
    std::vector<float> p(static_cast<size_t>(kRowBlock * T)), dp(p.size());
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / H, h = task % H;
      const float* q = qkv + n * T * C3 + h * D;
      const float* k = q + C;
      const float* v = q + 2 * C;
      float* dq = dqkv + n * T * C3 + h * D;
      float* dk = dq + C;
      float* dv = dq + 2 * C;
      const float* st = stats + task * T * 2;
      const float* dyh = dy + n * T * C + h * D;
      const float* yh = y + n * T * C + h * D;
      // dk and dv gather from every row block below: they start at zero.
      for (int64_t t = 0; t < T; ++t) {
        std::fill(dk + t * C3, dk + t * C3 + D, 0.0f);
        std::fill(dv + t * C3, dv + t * C3 + D, 0.0f);
      }
      for (int64_t r0 = 0; r0 < T; r0 += kRowBlock) {
        const int64_t r1 = std::min(T, r0 + kRowBlock), rows = r1 - r0;
        const float* dyb = dyh + r0 * C;
        // P of these rows again, as forward had it.
        scores(r0, r1, D, C3, scale, q, k, p.data(), T);
        for (int64_t t = r0; t < r1; ++t)
          probabilities_row(p.data() + (t - r0) * T, t, r1, st + t * 2);
        // dP = dy vᵀ and dv += Pᵀ dy over positions [0, r1).
        gemm_strided(false, true, rows, r1, D, 1.0f, dyb, C, v, C3, 0.0f, dp.data(), T);
        gemm_strided(true, false, r1, D, rows, 1.0f, p.data(), T, dyb, C, 1.0f, dv, C3);
        // Through the softmax: dS = P (dP - Σ_s P dP), zero where masked; Σ_s P dP = dy · y.
        for (int64_t t = r0; t < r1; ++t) {
          const float* pr = p.data() + (t - r0) * T;
          float* dr = dp.data() + (t - r0) * T;
          const float* dyt = dyh + t * C;
          const float* yt = yh + t * C;
          const float dot = lane_sum(D, [&](int64_t d) { return dyt[d] * yt[d]; });
          for (int64_t s = 0; s <= t; ++s) dr[s] = pr[s] * (dr[s] - dot);
          std::fill(dr + t + 1, dr + r1, 0.0f);
        }
        // dq = dS k / sqrt(D) for these rows; dk += dSᵀ q / sqrt(D) over positions [0, r1).
        gemm_strided(false, false, rows, D, r1, scale, dp.data(), T, k, C3, 0.0f, dq + r0 * C3, C3);
        gemm_strided(true, false, r1, D, rows, scale, dp.data(), T, q + r0 * C3, C3, 1.0f, dk, C3);
      }
    }
  });
}

}  // namespace trainer::cpu
