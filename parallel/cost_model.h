// Predicting a layout's step time and memory per rank from the model, the layout and a cluster
// description, and searching the layouts of a device count for the fastest that fits in memory.
// The formulas, and where the presets' figures come from, are in docs/cost_model.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "parallel/partition.h"
#include "parallel/schedule.h"

namespace trainer {

// What the cost model knows of the machines. Rates are achieved ones, not peaks.
struct Cluster {
  std::string name, description;
  int devices_per_node = 1;     // GPUs, or cores for a CPU cluster (one rank per core)
  double gemm_flops = 0;        // FLOP/s per device in linear layers' GEMMs (fp32)
  double half_gemm_flops = 0;   // ... in fp16/bf16 (tensor cores); 0: as in fp32
  double conv_flops = 0;        // FLOP/s per device in convolutions
  double memory_bandwidth = 0;  // bytes/s per device for elementwise layers and the optimizer
  double memory_bytes = 0;      // per device
  double intra_bandwidth = 0, intra_latency = 0;  // within a node: bytes/s per rank, seconds
  double inter_bandwidth = 0, inter_latency = 0;  // between nodes
  double layer_overhead = 0;   // seconds per layer per pass (kernel launches, dispatch)
  double load_per_sample = 0;  // seconds to load one sample on the first stage
  // Whether communication proceeds beside computation (GPUs: NCCL on its own stream); on a CPU
  // whose cores all compute, an all-reduce takes its time from them, so it is not hidden.
  bool overlap = true;
};

// "a100", "h100" (8 per node, NVLink in a node, InfiniBand between), "cpu" (this project's
// 2-core development machine, calibrated by bench/calibrate_cpu.py). Throws
// std::invalid_argument.
const Cluster& cluster_preset(const std::string& name);
std::vector<std::string> cluster_presets();

struct Layout {
  int data = 1, pipeline = 1, microbatches = 1, grad_accum = 1;
  // Tensor ranks per stage (adjacent ranks of a node): split layers' compute, weights and most
  // activations by T, at the price of their all-reduces on the node's links.
  int tensor = 1;
  // Sequence parallelism: the tensor group also splits the activations between its split
  // regions (layer norms, the residual stream, the stage boundaries) by T.
  bool sequence_parallel = false;
  int64_t global_batch = 1;
  ScheduleKind schedule = ScheduleKind::OneFOneB;
  int virtual_stages = 1;  // chunks per stage (the interleaved schedule)
  double bucket_mb = 25;
  std::vector<int64_t> stage_starts;  // empty: balanced_partition
  int zero = 0;               // 1: optimizer state sharded over the data ranks; 2: gradients too
  bool half_compute = false;  // fp16/bf16: a 2-byte compute copy of every weight
  bool recompute = false;     // the layers' costs are those with blocks recomputed
  int ranks() const { return data * pipeline * tensor; }
};

struct Prediction {
  double step_s = 0;
  double compute_s = 0;    // the slowest stage's forward + backward of all its micro-batches
  double bubble_s = 0;     // pipeline idle: the schedule's (P - 1 slots per round for 1F1B)
  double p2p_s = 0;        // activation and gradient transfers between stages
  double allreduce_s = 0;  // the data-parallel all-reduce left exposed after overlap
  double tensor_s = 0;     // of compute_s, the tensor group's all-reduces (none is hidden)
  double optimizer_s = 0;
  double samples_per_s = 0;
  int64_t memory_bytes = 0;  // the largest stage: weights, gradients, optimizer state, activations
  // ... and its parts: f32 master weights (1/data of them under ZeRO in mixed precision) plus
  // 16-bit compute copies, f32 gradients (1/data of them and two buckets under ZeRO 2), the
  // optimizer's state (1/data of it under ZeRO), activations kept for backward.
  int64_t weight_bytes = 0, grad_bytes = 0, optimizer_bytes = 0, activation_bytes = 0;
  bool fits = true;
  std::vector<int64_t> stage_starts;  // of the pieces (P x virtual stages)
};

// Optimizer state bytes per parameter beyond the weight and gradient: 8 for Adam (m, v).
Prediction predict(const std::vector<LayerCost>& layers, const Layout& layout,
                   const Cluster& cluster, int64_t optimizer_state_bytes = 8);

// Every layout of `devices` ranks (data x pipeline x tensor, micro-batches, with a pipeline the
// schedules 1F1B, zb-h1 and interleaved over 2 and 4 chunks, ZeRO 0, 1 and 2 with several data
// ranks, and with `recomputed` given, the layers' costs with activation recompute too)
// the batch divides into, with its prediction, fastest first; those that do not fit in memory last.
// `half_compute` as in Layout.
std::vector<std::pair<Layout, Prediction>> search_layouts(
    const std::vector<LayerCost>& layers, int devices, int64_t global_batch, const Cluster& cluster,
    int64_t optimizer_state_bytes = 8, bool half_compute = false,
    const std::vector<LayerCost>* recomputed = nullptr);

}  // namespace trainer
