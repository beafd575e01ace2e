// Splitting a sequential model into pipeline stages: contiguous runs of layers, balanced by
// their estimated cost, or at boundaries the config gives.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace trainer {

// What the partitioner and the --dry-run plan know of one layer, without keeping it.
struct LayerCost {
  std::string type, details;
  Shape output;                        // per sample
  int64_t params = 0;                  // parameter count
  int64_t flops_per_sample = 0;        // forward
  int64_t stash_bytes_per_sample = 0;  // activations kept for backward
  // The activations it keeps without recompute (its stash when nothing is recomputed).
  int64_t activation_bytes_per_sample = 0;
  // The activations its forward writes and its backward reads again, kept, recomputed or made
  // again in scratch memory (attention's scores): a transformer block's memory traffic beside
  // its GEMMs (Layer::streamed_bytes_per_sample).
  int64_t streamed_bytes_per_sample = 0;
  // Of those, what fused 16-bit GPU kernels keep on chip (Layer::fused_bytes_per_sample).
  int64_t fused_bytes_per_sample = 0;
  bool recomputed = false;  // its forward runs again in backward (train.recompute)
  // A parameter of layer tied_owner this layer uses (the head tied to the embedding), of
  // tied_params elements: a pipeline stage without the owner holds a copy of it.
  int64_t tied_owner = -1, tied_params = 0;
  // Into how many equal pieces tensor parallelism may cut the layer (a block's heads, the
  // embedding's rows); 0: it is not split.
  int64_t tensor_units = 0;
};

struct StageCost {
  int64_t first = 0, end = 0;  // layers [first, end)
  int64_t params = 0, flops_per_sample = 0, stash_bytes_per_sample = 0;
  // Of params, those two layers share (a tied parameter with either user here): their
  // gradients are written at both ends of backward.
  int64_t shared_params = 0;
};

// The time a layer is expected to take per sample, in FLOP-equivalents: forward + backward (3x
// the forward FLOPs), and for layers without a GEMM (activations, pooling) the elements they
// read and write, so that a stage of many cheap layers is not taken for free.
double layer_time_estimate(const LayerCost& layer);

// The first layer of stages 1..stages-1: the contiguous split whose slowest stage is fastest
// (dynamic programming over the cut points). Requires 1 <= stages <= layers.
std::vector<int64_t> balanced_partition(const std::vector<LayerCost>& layers, int stages);

// Per stage totals of a split (starts as balanced_partition returns them); a stage's parameters
// include its copies of tied parameters whose owner is on another stage.
std::vector<StageCost> stage_costs(const std::vector<LayerCost>& layers,
                                   const std::vector<int64_t>& starts);

}  // namespace trainer
