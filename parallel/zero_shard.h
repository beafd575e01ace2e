// ZeRO stage 1 (Rajbhandari et al. 2020): the data-parallel ranks split the optimizer's work and
// state. One stage's flat parameter buffer is cut into one contiguous range per data rank; a
// rank keeps the optimizer state of its range only, receives the summed gradients of its range
// (reduce-scatter), updates it, and the updated values are gathered back into every rank's full
// copy (all-gather).
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

// `total` elements cut into `ranks` contiguous ranges, each starting at a multiple of 64
// elements (256 bytes, as parameters do); the last ones may be shorter, or empty.
std::vector<FlatRange> shard_ranges(int64_t total, int ranks);

// The pieces of the model's parameters that lie in `range`: views of their values and
// gradients, named as their parameter, each at its own flat offset (what the optimizer of the
// shard updates; see the note on flat optimizer state).
std::vector<Param> shard_params(Model& model, FlatRange range);

// The elements of `range` inside `within`, as counts per rank for a reduce-scatter or all-gather
// of `range` cut by `shards`.
std::vector<int64_t> counts_within(FlatRange range, const std::vector<FlatRange>& shards);

}  // namespace trainer
