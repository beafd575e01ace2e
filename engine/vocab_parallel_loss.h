// Softmax cross-entropy over a vocabulary split between the ranks of a tensor group (Megatron's
// vocabulary-parallel cross-entropy): each rank holds the logits of its slice of the vocabulary
// and the logits are never gathered. The ranks agree on each row's max (one all-reduce), then
// sum each row's exponentials and the label's logit (one more), and each computes its slice's
// gradient. Every rank gets the same loss.
#pragma once

#include "core/layers/tensor_split.h"
#include "core/ops.h"

namespace trainer {

// logits (N, C): columns [begin, begin + C) of the vocabulary; labels (N) i32. The loss is
// added into totals.
void vocab_parallel_cross_entropy(const Tensor& logits, const Tensor& labels, int64_t begin,
                                  TensorCollectives& group, float grad_scale, Tensor& dlogits,
                                  LossTotals& totals);

}  // namespace trainer
