#include "core/cpu/loss.h"

#include <algorithm>
#include <vector>

#include "core/cpu/loss_rows.h"
#include "core/cpu/parallel.h"

namespace trainer::cpu {

// Rows in parallel (a language model's batch has thousands of vocabulary-wide rows), each row's
// loss kept, then added in row order: the sum does not depend on the thread count.
template <class Row>
static LossSums sum_rows(Row row_loss, int64_t N, int64_t C, const float* logits,
                         const int32_t* labels, float grad_scale, float* dlogits) {
  std::vector<double> loss(static_cast<size_t>(N));
  std::vector<char> correct(static_cast<size_t>(N));
  parallel_ranges(N, std::max<int64_t>(1, 4096 / std::max<int64_t>(C, 1)),
                  [&](int, int64_t begin, int64_t end) {
                    for (int64_t n = begin; n < end; ++n) {
                      const RowLoss r = row_loss(C, logits + n * C, labels[n], grad_scale,
                                                 dlogits ? dlogits + n * C : nullptr);
                      loss[static_cast<size_t>(n)] = r.loss;
                      correct[static_cast<size_t>(n)] = r.correct;
                    }
                  });
  LossSums s;
  for (int64_t n = 0; n < N; ++n) {
    s.loss += loss[static_cast<size_t>(n)];
    s.correct += correct[static_cast<size_t>(n)];
  }
  return s;
}

LossSums softmax_cross_entropy(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                               float grad_scale, float* dlogits) {
  return sum_rows(cross_entropy_row, N, C, logits, labels, grad_scale, dlogits);
}

LossSums mse_onehot(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                    float grad_scale, float* dlogits) {
  return sum_rows(mse_row, N, C, logits, labels, grad_scale, dlogits);
}

}  // namespace trainer::cpu
