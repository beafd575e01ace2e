// ZeRO (Rajbhandari et al. 2020): the data-parallel ranks split the optimizer's work and state.
// One stage's flat parameter buffer is cut into one contiguous range per data rank; a rank keeps
// the optimizer state of its range only, receives the summed gradients of its range
// (reduce-scatter), updates it, and the updated values are gathered back into every rank's full
// copy (all-gather). Stage 1 still accumulates the whole model's gradients in the flat buffer;
// stage 2 keeps only its range's, in a buffer of their own (see GradReducer).
#pragma once

#include <cstdint>
#include <vector>

#include "core/model.h"

namespace trainer {

struct FlatRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
  bool empty() const { return end <= begin; }
};

// The elements two ranges share (empty when none).
inline FlatRange overlap(FlatRange a, FlatRange b) {
  return {a.begin > b.begin ? a.begin : b.begin, a.end < b.end ? a.end : b.end};
}

// One stage's split of its flat buffers over the data ranks.
struct ZeroShards {
  int stage = 0;                  // 0 (no split), 1 or 2
  std::vector<FlatRange> ranges;  // every data rank's
  FlatRange mine;                 // this rank's
  // The gradients of `mine`: a view of the model's flat gradients (stage 1), or a buffer of its
  // own (stage 2) into which the reducer adds each backward pass's reduced range.
  Tensor grads;
  // In mixed precision, the f32 master values of `mine`, which the optimizer updates: the
  // model's own flat values are released while training (see Model::release_values).
  Tensor master;
  bool on() const { return stage > 0; }
};

// `total` elements cut into `ranks` contiguous ranges, each starting at a multiple of 64
// elements (256 bytes, as parameters do); the last ones may be shorter, or empty.
std::vector<FlatRange> shard_ranges(int64_t total, int ranks);

// Splits `model`'s flat buffers for ZeRO `stage` (1 or 2) over `ranks` data ranks, for data
// rank `rank`. Stage 2 releases the model's flat gradients (Model::release_grads); in mixed
// precision the rank's master values are copied into `master`.
ZeroShards make_zero_shards(Model& model, int stage, int ranks, int rank);

// The pieces of the model's parameters that lie in the shard: views of their values and of
// the shard's gradients, named as their parameter, each at its own flat offset (what the
// optimizer of the shard updates; see the note on flat optimizer state).
std::vector<Param> shard_params(Model& model, const ZeroShards& shards);

// The elements of `range` inside `within`, as counts per rank for a reduce-scatter or all-gather
// of `range` cut by `shards`.
std::vector<int64_t> counts_within(FlatRange range, const std::vector<FlatRange>& shards);

}  // namespace trainer
