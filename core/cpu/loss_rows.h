// One row of each loss: shared by the CPU kernels (core/cpu/loss.cpp) and the CUDA kernels
// (core/cuda/loss.cu). Accumulated in double.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/host_device.h"

namespace trainer::cpu {

struct RowLoss {
  double loss;
  bool correct;  // the row's argmax is its label
};

TRAINER_HD inline int64_t argmax_row(int64_t C, const float* row) {
  int64_t best = 0;
  for (int64_t c = 1; c < C; ++c)
    if (row[c] > row[best]) best = c;
  return best;
}

// Softmax cross-entropy with the row max subtracted; d (nullable) = (softmax - onehot) * scale.
TRAINER_HD inline RowLoss cross_entropy_row(int64_t C, const float* row, int32_t label,
                                            float grad_scale, float* d) {
  const int64_t best = argmax_row(C, row);
  const float mx = row[best];
  double denom = 0.0;
  for (int64_t c = 0; c < C; ++c) denom += exp(static_cast<double>(row[c] - mx));
  const double log_denom = log(denom);
  if (d)
    for (int64_t c = 0; c < C; ++c) {
      const double p = exp(static_cast<double>(row[c] - mx) - log_denom);
      d[c] = static_cast<float>((p - (c == label ? 1.0 : 0.0)) * grad_scale);
    }
  return {log_denom - static_cast<double>(row[label] - mx), best == label};
}

// Squared error against the one-hot target, averaged over C; d (nullable) = 2 (x - t) / C * scale.
TRAINER_HD inline RowLoss mse_row(int64_t C, const float* row, int32_t label, float grad_scale,
                                  float* d) {
  double sq = 0.0;
  for (int64_t c = 0; c < C; ++c) {
    const double diff = row[c] - (c == label ? 1.0 : 0.0);
    sq += diff * diff;
    if (d) d[c] = static_cast<float>(2.0 * diff / C * grad_scale);
  }
  return {sq / C, argmax_row(C, row) == label};
}

}  // namespace trainer::cpu
