// Tensor parallelism as a layer sees it (Megatron-LM's layout): the T ranks of a tensor group
// each hold a slice of a layer's weights and compute that slice's share, and the layer calls one
// collective where the shares meet (after a row-parallel linear in forward, before a
// column-parallel one's input gradient in backward).
#pragma once

#include "core/tensor.h"

namespace trainer {

// The collectives such a layer calls; the parallel layer implements them over the tensor
// group's communicator (core sees no communicator).
class TensorCollectives {
 public:
  virtual ~TensorCollectives() = default;
  // In place over the group, in t's dtype, on t's device.
  virtual void all_reduce_sum(Tensor& t) = 0;
  // f32 only (the vocabulary-parallel loss's row maxima).
  virtual void all_reduce_max(Tensor& t) = 0;
};

// This rank's place in the tensor group its layers are split over.
struct TensorSplit {
  int rank = 0, size = 1;
  // The group's collectives; null for one rank, and for layers built only for their costs
  // (which never run).
  TensorCollectives* comm = nullptr;

  bool on() const { return size > 1; }
  void all_reduce_sum(Tensor& t) const;
  // Rows [begin, end) of `n` split evenly (n divisible by size).
  int64_t begin(int64_t n) const { return n / size * rank; }
};

// How a parameter is this rank's slice of the whole model's: the slices of all ranks, put
// side by side, are the parameter one process holds (initial weights and checkpoints use it).
// A splittable parameter keeps its `dim` under one rank too (parts 1): a checkpoint written under
// one tensor size can then be cut for another.
struct ParamSplit {
  int dim = -1;        // the dimension that is split; -1: replicated, every rank holds all of it
  int64_t groups = 1;  // that dimension is `groups` equal blocks, each split (qkv: q | k | v)
  int parts = 1, part = 0;

  bool split() const { return dim >= 0 && parts > 1; }
  // The same parameter as rank `part` of `parts` holds it.
  ParamSplit as(int parts_, int part_) const {
    return dim >= 0 ? ParamSplit{dim, groups, parts_, part_} : *this;
  }
};

// The whole parameter's shape, from a slice's.
Shape full_shape(const Shape& slice, const ParamSplit& s);
Shape slice_shape(const Shape& full, const ParamSplit& s);
// Host f32 tensors: the slice `s` names of `full`, and the reverse.
Tensor take_slice(const Tensor& full, const ParamSplit& s);
void put_slice(Tensor& full, const Tensor& slice, const ParamSplit& s);

}  // namespace trainer
