#include "core/layers/attention.h"

#include "core/ops.h"

namespace trainer {

Tensor CausalSelfAttention::forward(const Tensor& qkv, Stash& saved, const ForwardContext&) {
  const int64_t N = qkv.dim(0), T = qkv.dim(1);
  Tensor y = Tensor::empty(batched(output_shape(), N), qkv.dtype(), qkv.device());
  Tensor stats = Tensor::empty({N, heads_, T, 2}, DType::F32, qkv.device());
  ops::attention_forward(heads_, qkv, y, stats);
  // y too: backward's Σ_s P dP of a row is dy · y. The output projection keeps y as its input,
  // so the two stashes share one tensor (stash_bytes_per_sample counts it there).
  saved.tensors = {qkv, stats, y};
  return y;
}

Tensor CausalSelfAttention::backward(const Tensor& dy, Stash& saved) {
  const Tensor& qkv = saved.tensors.at(0);
  Tensor dqkv = Tensor::empty(qkv.shape(), qkv.dtype(), qkv.device());
  ops::attention_backward(heads_, qkv, saved.tensors.at(2), saved.tensors.at(1), dy, dqkv);
  saved.tensors.clear();
  return dqkv;
}

}  // namespace trainer
