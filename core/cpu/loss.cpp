#include "core/cpu/loss.h"

#include <algorithm>
#include <vector>

#include "core/cpu/loss_rows.h"
#include "core/cpu/parallel.h"

namespace trainer::cpu {

static int64_t rows_per_task(int64_t C) {
  return std::max<int64_t>(1, 4096 / std::max<int64_t>(C, 1));
}

// Rows in parallel (a language model's batch has thousands of vocabulary-wide rows), each row's
// loss (row_loss(n)) kept, then added in row order: the sum does not depend on the thread count.
template <class Row>
static void sum_rows(int64_t N, int64_t C, Row row_loss, double* totals) {
  std::vector<double> loss(static_cast<size_t>(N));
  std::vector<char> correct(static_cast<size_t>(N));
  parallel_ranges(N, rows_per_task(C), [&](int, int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const RowLoss r = row_loss(n);
      loss[static_cast<size_t>(n)] = r.loss;
      correct[static_cast<size_t>(n)] = r.correct;
    }
  });
  LossSums s;
  for (int64_t n = 0; n < N; ++n) {
    s.loss += loss[static_cast<size_t>(n)];
    s.correct += correct[static_cast<size_t>(n)];
  }
  totals[0] += s.loss;
  totals[1] += static_cast<double>(s.correct);
}

// Row n's gradient, or null.
static float* row_of(float* d, int64_t n, int64_t C) { return d ? d + n * C : nullptr; }

void softmax_cross_entropy(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                           float grad_scale, float* dlogits, double* totals) {
  sum_rows(
      N, C,
      [&](int64_t n) {
        return cross_entropy_row(C, logits + n * C, labels[n], grad_scale, row_of(dlogits, n, C));
      },
      totals);
}

void mse_onehot(int64_t N, int64_t C, const float* logits, const int32_t* labels, float grad_scale,
                float* dlogits, double* totals) {
  sum_rows(
      N, C,
      [&](int64_t n) {
        return mse_row(C, logits + n * C, labels[n], grad_scale, row_of(dlogits, n, C));
      },
      totals);
}

void split_ce_max_target(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                         int64_t begin, float* row_max, float* target) {
  parallel_ranges(N, rows_per_task(C), [&](int, int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n)
      split_ce_max_target(C, logits + n * C, labels[n], begin, row_max + n, target + n);
  });
}

void split_ce_sum_exp(int64_t N, int64_t C, const float* logits, const float* row_max,
                      float* sum_exp) {
  parallel_ranges(N, rows_per_task(C), [&](int, int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) sum_exp[n] = split_ce_sum_exp(C, logits + n * C, row_max[n]);
  });
}

void split_ce_loss(int64_t N, int64_t C, const float* logits, const int32_t* labels, int64_t begin,
                   const float* row_max, const float* sum_exp, const float* target,
                   float grad_scale, float* dlogits, double* totals) {
  sum_rows(
      N, C,
      [&](int64_t n) {
        return split_ce_row(C, logits + n * C, labels[n], begin, row_max[n], sum_exp[n], target[n],
                            grad_scale, row_of(dlogits, n, C));
      },
      totals);
}

}  // namespace trainer::cpu
