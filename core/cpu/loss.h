// Loss kernels over a (N, C) batch of logits with integer class labels.
#pragma once

#include <cstdint>

namespace trainer::cpu {

struct LossSums {
  double loss = 0.0;    // summed over the N rows
  int64_t correct = 0;  // rows whose argmax equals the label
};

// Each loss adds its N rows' sums, taken in row order, into totals[0] (the loss) and totals[1]
// (the rows whose argmax equals the label, counted in a double).

// Numerically stable softmax cross-entropy (log-sum-exp with the row max subtracted).
// dlogits (nullable) = (softmax - onehot) * grad_scale.
void softmax_cross_entropy(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                           float grad_scale, float* dlogits, double* totals);

// Mean squared error against one-hot targets, averaged over the C outputs of a row (PyTorch's
// MSELoss 'mean' once divided by N). dlogits (nullable) = 2 (x - onehot) / C * grad_scale.
void mse_onehot(int64_t N, int64_t C, const float* logits, const int32_t* labels, float grad_scale,
                float* dlogits, double* totals);

// The vocabulary-parallel cross-entropy's three passes (see loss_rows.h), over N rows of C
// columns starting at vocabulary entry `begin`; the caller reduces over the group between them.
void split_ce_max_target(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                         int64_t begin, float* row_max, float* target);
void split_ce_sum_exp(int64_t N, int64_t C, const float* logits, const float* row_max,
                      float* sum_exp);
void split_ce_loss(int64_t N, int64_t C, const float* logits, const int32_t* labels, int64_t begin,
                   const float* row_max, const float* sum_exp, const float* target,
                   float grad_scale, float* dlogits, double* totals);

}  // namespace trainer::cpu
