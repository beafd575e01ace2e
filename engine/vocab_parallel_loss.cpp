#include "engine/vocab_parallel_loss.h"

namespace trainer {

void vocab_parallel_cross_entropy(const Tensor& logits, const Tensor& labels, int64_t begin,
                                  TensorCollectives& group, float grad_scale, Tensor& dlogits,
                                  LossTotals& totals) {
  const int64_t n = logits.dim(0);
  Tensor row_max = Tensor::empty({n}, DType::F32, logits.device());
  // The label's logit and the sum of exponentials, side by side: one all-reduce sums both.
  Tensor sums = Tensor::empty({2 * n}, DType::F32, logits.device());
  Tensor target = sums.view(0, {n}), sum_exp = sums.view(n, {n});
  ops::split_ce_max_target(logits, labels, begin, row_max, target);
  group.all_reduce_max(row_max);
  ops::split_ce_sum_exp(logits, row_max, sum_exp);
  group.all_reduce_sum(sums);
  ops::split_ce_loss(logits, labels, begin, row_max, sum_exp, target, grad_scale, dlogits, totals);
}

}  // namespace trainer
