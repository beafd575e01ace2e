#include "core/cpu/loss.h"

#include "core/cpu/loss_rows.h"

namespace trainer::cpu {

template <class Row>
static LossSums sum_rows(Row row_loss, int64_t N, int64_t C, const float* logits,
                         const int32_t* labels, float grad_scale, float* dlogits) {
  LossSums s;
  for (int64_t n = 0; n < N; ++n) {
    const RowLoss r =
        row_loss(C, logits + n * C, labels[n], grad_scale, dlogits ? dlogits + n * C : nullptr);
    s.loss += r.loss;
    s.correct += r.correct;
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
