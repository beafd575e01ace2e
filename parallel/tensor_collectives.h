// The tensor group's collectives as tensor-parallel layers call them (core's TensorCollectives),
// over the grid's tensor communicator.
//
// A run's layers are built, and every rank has checked its config, before the ranks first
// communicate (the grid is split after that), so the layers get this object unbound and the
// training loop binds it to the grid's tensor communicator before the first step.
#pragma once

#include "core/layers/tensor_split.h"
#include "parallel/communicator.h"

namespace trainer {

class GroupCollectives : public TensorCollectives {
 public:
  void bind(Communicator& group) { group_ = &group; }
  // Sums in place, in t's precision where the group's transport can (NCCL), else through an f32
  // copy (MPI).
  void all_reduce_sum(Tensor& t) override;
  void all_reduce_max(Tensor& t) override;
  // In place in `whole` (all-gather of the ranks' blocks; reduce-scatter in f32, through an f32
  // copy for 16-bit tensors).
  void all_gather(const Tensor& part, Tensor& whole) override;
  void reduce_scatter(Tensor& whole, Tensor& part) override;

 private:
  Communicator& group() const;
  Communicator* group_ = nullptr;
};

}  // namespace trainer
