// One row of each loss: shared by the CPU kernels (core/cpu/loss.cpp) and the CUDA kernels
// (core/cuda/loss.cu). Accumulated in double.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/cpu/exp_poly.h"
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
// The exponentials in float through exp_poly, each once (kept in d, which then becomes the
// gradient), so the loops vectorise; their sum and the loss in double.
TRAINER_HD inline RowLoss cross_entropy_row(int64_t C, const float* row, int32_t label,
                                            float grad_scale, float* d) {
  const int64_t best = argmax_row(C, row);
  const float mx = row[best];
  double denom = 0.0;
  if (d) {
    for (int64_t c = 0; c < C; ++c) d[c] = exp_poly(row[c] - mx);
    for (int64_t c = 0; c < C; ++c) denom += d[c];
    const float inv = static_cast<float>(1.0 / denom);
    for (int64_t c = 0; c < C; ++c) d[c] = d[c] * inv * grad_scale;
    d[label] -= grad_scale;
  } else {
    for (int64_t c = 0; c < C; ++c) denom += exp_poly(row[c] - mx);
  }
  return {log(denom) - static_cast<double>(row[label] - mx), best == label};
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

// The vocabulary-parallel cross-entropy (Megatron's), a row at a time: the row holds columns
// [begin, begin + C) of the vocabulary. First this slice's max and the label's logit (0 where
// another rank holds the label); once the group has the max of the maxima and the sum of the
// labels' logits, the sum of exp(x - max) over the slice; once summed too, the loss and the
// gradient (softmax - onehot) x scale of the slice.
// The label's logit where this slice holds it, else 0 (the group sums the slices' targets).
TRAINER_HD inline float split_ce_target(int64_t C, const float* row, int32_t label, int64_t begin) {
  return label >= begin && label < begin + C ? row[label - begin] : 0.0f;
}

TRAINER_HD inline void split_ce_max_target(int64_t C, const float* row, int32_t label,
                                           int64_t begin, float* row_max, float* target) {
  float mx = -INFINITY;
  for (int64_t c = 0; c < C; ++c) mx = row[c] > mx ? row[c] : mx;
  *row_max = mx;
  *target = split_ce_target(C, row, label, begin);
}

TRAINER_HD inline float split_ce_sum_exp(int64_t C, const float* row, float row_max) {
  double s = 0.0;
  for (int64_t c = 0; c < C; ++c) s += exp_poly(row[c] - row_max);
  return static_cast<float>(s);
}

// The row's loss from the group's max, sum of exponentials and target; `correct`: the label's
// logit is the largest (a tie counts, where one process's argmax takes the first index).
TRAINER_HD inline RowLoss split_ce_loss_of(float row_max, float sum_exp, float target) {
  return {log(static_cast<double>(sum_exp)) - static_cast<double>(target - row_max),
          target >= row_max};
}

TRAINER_HD inline RowLoss split_ce_row(int64_t C, const float* row, int32_t label, int64_t begin,
                                       float row_max, float sum_exp, float target, float grad_scale,
                                       float* d) {
  if (d) {
    const float scale = grad_scale / sum_exp;
    for (int64_t c = 0; c < C; ++c) d[c] = exp_poly(row[c] - row_max) * scale;
    if (label >= begin && label < begin + C) d[label - begin] -= grad_scale;
  }
  return split_ce_loss_of(row_max, sum_exp, target);
}

}  // namespace trainer::cpu
