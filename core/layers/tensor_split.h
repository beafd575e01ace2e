// Tensor parallelism as a layer sees it (Megatron-LM's layout): the T ranks of a tensor group
// each hold a slice of a layer's weights and compute that slice's share, and the layer calls one
// collective where the shares meet (after a row-parallel linear in forward, before a
// column-parallel one's input gradient in backward).
//
// Sequence parallelism (Korthikanti et al. 2022) also splits the activations between those
// regions (the residual stream, layer norms): each rank holds 1/T of the rows of a (N x S, C)
// activation, rank r the r-th contiguous block of them. The all-reduces become an all-gather
// (entering a column-parallel linear) and a reduce-scatter (leaving a row-parallel one). Layer
// norms then see only their rows: their gradients are summed over the group by the training
// step (Param::grad_partial).
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
  // Sequence parallelism: `whole` gets every rank's `part` in rank order; `part` gets its block
  // of the sum of every rank's `whole` (which it may overwrite).
  virtual void all_gather(const Tensor& part, Tensor& whole) = 0;
  virtual void reduce_scatter(Tensor& whole, Tensor& part) = 0;
};

// This rank's place in the tensor group its layers are split over.
struct TensorSplit {
  int rank = 0, size = 1;
  // The group's collectives; null for one rank, and for layers built only for their costs
  // (which never run).
  TensorCollectives* comm = nullptr;
  bool sequence = false;  // sequence parallelism (parallel.sequence_parallel)

  bool on() const { return size > 1; }
  bool sequence_split() const { return on() && sequence; }
  // The two meeting points of a split layer, the same under both forms. `partial` (N, S, ...)
  // holds this rank's share of a sum over the group (a row-parallel output, a column-parallel
  // input gradient): the sum, all-reduced in place, or under sequence parallelism this rank's
  // rows of it (N, S / T, ...), reduce-scattered. `rows` is a layer input as this rank holds it:
  // itself, or under sequence parallelism every rank's rows gathered (N, S / T, ...) ->
  // (N, S, ...).
  Tensor sum_partials(Tensor& partial) const;
  Tensor all_rows(const Tensor& rows) const;
  // A per-sample shape ((positions, channels)) as this rank holds it under sequence parallelism.
  Shape rows_shape(Shape s) const {
    if (sequence_split()) s.at(0) /= size;
    return s;
  }
  // The whole sequence's positions, from a layer input's (this rank's rows under sequence
  // parallelism).
  int64_t positions(const Shape& input) const {
    return input.at(0) * (sequence_split() ? size : 1);
  }
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
