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

// A zeroed f32 buffer of n elements on `device` (one is allocated when n is 0: a rank's range
// may be empty).
static Tensor range_buffer(int64_t n, Device device) {
  return Tensor::zeros({std::max<int64_t>(n, 1)}, DType::F32, device).view(0, {n});
}

ZeroShards make_zero_shards(Model& model, int stage, int ranks, int rank) {
  ZeroShards z;
  z.stage = stage;
  model.flat_grads();  // places the model, if it is not yet
  const Tensor& values = model.flat_values();
  z.ranges = shard_ranges(values.numel(), ranks);
  z.mine = z.ranges.at(static_cast<size_t>(rank));
  if (stage >= 2) {
    model.release_grads();
    z.grads = range_buffer(z.mine.size(), values.device());
  } else {
    z.grads = model.flat_grads().view(z.mine.begin, {z.mine.size()});
  }
  if (model.compute_dtype() != DType::F32) {
    z.master = range_buffer(z.mine.size(), values.device());
    z.master.copy_from(values.view(z.mine.begin, {z.mine.size()}));
  }
  return z;
}

std::vector<Param> shard_params(Model& model, const ZeroShards& shards) {
  const Tensor& values = model.flat_values();
  const FlatRange range = shards.mine;
  std::vector<Param> out;
  for (Param* p : model.params()) {
    const FlatRange in = overlap(range, {p->offset, p->offset + p->value.numel()});
    if (in.empty()) continue;
    Param piece{p->name,
                shards.master.defined() ? shards.master.view(in.begin - range.begin, {in.size()})
                                        : values.view(in.begin, {in.size()}),
                shards.grads.view(in.begin - range.begin, {in.size()}), Tensor(), in.begin};
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
