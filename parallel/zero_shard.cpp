#include "parallel/zero_shard.h"

#include <algorithm>

namespace trainer {

constexpr int64_t kShardAlign = 64;

std::vector<FlatRange> shard_ranges(int64_t total, int ranks) {
  const int64_t per = (total + ranks - 1) / ranks;
  const int64_t step = (per + kShardAlign - 1) / kShardAlign * kShardAlign;
  std::vector<FlatRange> out;
  for (int r = 0; r < ranks; ++r)
    out.push_back({std::min(total, r * step), std::min(total, (r + 1) * step)});
  return out;
}

std::vector<Param> shard_params(Model& model, FlatRange range) {
  const Tensor& values = model.flat_values();
  const Tensor& grads = model.flat_grads();
  std::vector<Param> out;
  for (Param* p : model.params()) {
    const FlatRange in = overlap(range, {p->offset, p->offset + p->value.numel()});
    if (in.empty()) continue;
    Param piece{p->name, values.view(in.begin, {in.size()}), grads.view(in.begin, {in.size()}),
                Tensor(), in.begin};
    piece.compute = piece.value;
    out.push_back(piece);
  }
  return out;
}

std::vector<int64_t> counts_within(FlatRange range, const std::vector<FlatRange>& shards) {
  std::vector<int64_t> counts;
  for (const FlatRange& s : shards)
    counts.push_back(std::max<int64_t>(0, overlap(range, s).size()));
  return counts;
}

}  // namespace trainer
