#include "parallel/cost_model.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

namespace trainer {

const Cluster& cluster_preset(const std::string& name) {
  static const std::map<std::string, Cluster> presets = [] {
    std::map<std::string, Cluster> p;
    // The vendors' figures, derated by what well-tuned kernels and NCCL usually reach (the
    // percentages below are assumptions, not measurements).
    Cluster a;
    a.name = "a100";
    a.description =
        "A100 80 GB SXM, 8 per node, NVLink within a node, 8x200 Gb/s InfiniBand between";
    a.devices_per_node = 8;
    a.gemm_flops = 125e12;        // TF32 dense peak 156 TFLOP/s; large GEMMs reach about 80%
    a.half_gemm_flops = 250e12;   // bf16/fp16 dense peak 312 TFLOP/s; about 80%
    a.conv_flops = 78e12;         // cuDNN convolutions: about half of the TF32 peak
    a.memory_bandwidth = 1.6e12;  // 2.04 TB/s HBM2e peak; streaming kernels reach about 80%
    a.memory_bytes = 80e9;
    a.intra_bandwidth = 240e9;  // NVLink 3: 600 GB/s both ways, 300 per direction; NCCL ~80%
    a.intra_latency = 8e-6;
    a.inter_bandwidth = 22.5e9;  // one 200 Gb/s HDR NIC per GPU: 25 GB/s; NCCL ~90%
    a.inter_latency = 15e-6;
    a.layer_overhead = 6e-6;
    a.load_per_sample = 0.0;
    a.overlap = true;
    p[a.name] = a;

    Cluster h;
    h.name = "h100";
    h.description = "H100 SXM, 8 per node, NVLink within a node, 8x400 Gb/s InfiniBand between";
    h.devices_per_node = 8;
    h.gemm_flops = 400e12;        // TF32 dense peak 495 TFLOP/s; large GEMMs reach about 80%
    h.half_gemm_flops = 740e12;   // bf16/fp16 dense peak 989 TFLOP/s; about 75%
    h.conv_flops = 250e12;        // cuDNN convolutions: about half of peak at these shapes
    h.memory_bandwidth = 2.6e12;  // 3.35 TB/s HBM3 peak; streaming kernels reach about 80%
    h.memory_bytes = 80e9;
    h.intra_bandwidth = 360e9;  // NVLink 4: 450 GB/s per direction; NCCL bus bandwidth ~80%
    h.intra_latency = 8e-6;
    h.inter_bandwidth = 45e9;  // one 400 Gb/s NIC per GPU: 50 GB/s; NCCL bus bandwidth ~90%
    h.inter_latency = 15e-6;
    h.layer_overhead = 6e-6;  // two or three kernel launches per layer and pass
    h.load_per_sample = 0.0;  // the data set sits on the GPU or is prefetched
    h.overlap = true;
    p[h.name] = h;

    // This project's development machine: 2 cores of an AMD EPYC, one rank per core, MPI over
    // shared memory. Measured by bench/calibrate_cpu.py (bench/results/cpu_calibration.md).
    Cluster c;
    c.name = "cpu";
    c.description = "2 cores of an AMD EPYC (one rank per core), MPI over shared memory";
    c.devices_per_node = 2;
    c.gemm_flops = 86e9;
    c.conv_flops = 59e9;
    c.memory_bandwidth = 20e9;
    c.memory_bytes = 12e9;  // 24 GiB shared by the 2 ranks
    c.intra_bandwidth = 9.8e9;
    c.intra_latency = 0.56e-6;
    c.inter_bandwidth = 1.2e9;  // 10 GbE, for clusters of such machines
    c.inter_latency = 30e-6;
    c.layer_overhead = 1e-6;
    c.load_per_sample = 0.62e-6;
    c.overlap = false;
    p[c.name] = c;
    return p;
  }();
  auto it = presets.find(name);
  if (it == presets.end()) throw std::invalid_argument("unknown cluster preset '" + name + "'");
  return it->second;
}

std::vector<std::string> cluster_presets() { return {"a100", "cpu", "h100"}; }

namespace {

// Layers whose time is their matrix products (a transformer block's are most of its FLOPs).
bool is_gemm(const LayerCost& l) {
  return l.type == "linear" || l.type == "conv2d" || l.type == "transformer_block" ||
         l.type == "attention" || l.type == "lm_head";
}

// Layers tensor parallelism splits (Megatron's layout): their GEMMs, weights and most of their
// activations are divided among the T ranks; the others (layer norms) are replicated.
bool tensor_split(const LayerCost& l) {
  return l.type == "transformer_block" || l.type == "embedding" || l.type == "lm_head";
}

// The tensor axis of a layout: T ranks, and whether they split the sequence too.
struct TensorAxis {
  int T = 1;
  bool sequence = false;
  // Under sequence parallelism the layers between the split regions hold 1/T of the rows.
  int rows_split() const { return sequence ? T : 1; }
};

// Of `bytes` of a transformer block's activations per sample, those on one of T tensor ranks:
// four (T, C) tensors whole on every rank (the inputs of its two layer norms and of its two
// column-parallel linears: 16 bytes per output element; 1/T of them each under sequence
// parallelism) and the rest split (q, k, v, the attention's row statistics and scores, the MLP's
// hidden activations).
int64_t activations_under(const LayerCost& l, int64_t bytes, TensorAxis tp) {
  const int64_t whole = std::min(bytes, 16 * shape_numel(l.output));
  return whole / tp.rows_split() + (bytes - whole) / tp.T;
}

// Seconds per sample of one layer's forward and backward, on one of T tensor ranks. GEMM layers
// at the cluster's rate (its tensor-core rate when they compute in fp16/bf16), split by T;
// backward is dx and dW (2x forward), or dW alone where no input gradient is needed. A
// transformer block also streams its activations beside its GEMMs (softmax, layer norms, GELU,
// residual adds: each written and read in forward, read with its gradient in backward, about 2x
// and 3x their bytes), which at small widths and long sequences (the T x T attention scores of
// every head, streamed though not kept) takes as long as its GEMMs; on a GPU computing in 16 bits
// (a tensor-core rate) the flash kernels keep the scores on chip. Other layers stream memory:
// forward reads its input (about flops_per_sample elements) and writes its output; backward reads
// dy and what it stashed and writes dx (1.5x forward), on 1/T of the rows under sequence
// parallelism.
struct LayerTime {
  double forward = 0, backward = 0;
  double weights = 0;  // of backward, the weight gradients' GEMM (a zero-bubble W)
};

LayerTime layer_time(const LayerCost& l, bool needs_input_grad, bool half, const Cluster& c,
                     TensorAxis tp) {
  if (l.type == "flatten") return {};  // a view
  // A recomputed layer (a transformer block) runs its forward again in backward.
  const double again = l.recomputed ? 1.0 : 0.0;
  if (is_gemm(l)) {
    const double gemm = half && c.half_gemm_flops > 0 ? c.half_gemm_flops : c.gemm_flops;
    const double rate = l.type == "conv2d" ? c.conv_flops : gemm;
    const double f = static_cast<double>(l.flops_per_sample) / rate / (tensor_split(l) ? tp.T : 1);
    const bool fused = half && c.half_gemm_flops > 0;
    const int64_t bytes = l.streamed_bytes_per_sample - (fused ? l.fused_bytes_per_sample : 0);
    const double streamed =
        l.type == "transformer_block"
            ? static_cast<double>(activations_under(l, bytes, tp)) / c.memory_bandwidth
            : 0.0;
    const double forward = f + 2.0 * streamed;
    return {forward, (needs_input_grad ? 2.0 : 1.0) * f + 3.0 * streamed + again * forward, f};
  }
  const double bytes = 4.0 * static_cast<double>(l.flops_per_sample + shape_numel(l.output));
  const double f = bytes / c.memory_bandwidth / tp.rows_split();
  return {f, (needs_input_grad ? 1.5 * f : 0.0) + again * f};
}

// An all-reduce of `bytes` over n ranks on one kind of link, in `buckets` pieces, as NCCL runs
// it: a ring (2(n-1)/n of the data crosses each link, each piece pays 2(n-1) latencies) or, when
// that is faster (small pieces, many ranks), a double binary tree (each rank sends and receives
// the data about twice, each piece pays 2 log2 n latencies).
double flat_allreduce(double bytes, int n, double buckets, double bandwidth, double latency) {
  if (n <= 1) return 0.0;
  const double ring = 2.0 * (n - 1) / n * bytes / bandwidth + 2.0 * (n - 1) * latency * buckets;
  const double tree = 2.0 * bytes / bandwidth + 2.0 * std::log2(n) * latency * buckets;
  return std::min(ring, tree);
}

// An all-reduce over a group of n ranks with `local` of them on each node (n / local nodes),
// as NCCL does across nodes: reduce-scatter within the node, all-reduce of each rank's 1/local
// between the nodes (every rank on its own NIC, at once), all-gather within the node.
double allreduce(double bytes, int n, int local, double buckets, const Cluster& c) {
  local = std::max(1, std::min(local, n));
  const int nodes = n / local;
  if (nodes <= 1) return flat_allreduce(bytes, n, buckets, c.intra_bandwidth, c.intra_latency);
  // Reduce-scatter and all-gather within the node are half a ring all-reduce each.
  const double within = flat_allreduce(bytes, local, buckets, c.intra_bandwidth, c.intra_latency);
  return within + flat_allreduce(bytes / local, nodes, buckets, c.inter_bandwidth, c.inter_latency);
}

// Activation bytes per sample a layer keeps under T tensor ranks: a transformer block's as it
// makes them (activations_under), or recomputed, its input; whole on every rank, or 1/T of the
// rows under sequence parallelism (the embedding keeps its tokens whole).
int64_t stash_under(const LayerCost& l, TensorAxis tp) {
  if (tp.T > 1 && l.type == "transformer_block" && !l.recomputed)
    return activations_under(l, l.activation_bytes_per_sample, tp);
  return l.type == "embedding" ? l.stash_bytes_per_sample
                               : l.stash_bytes_per_sample / tp.rows_split();
}

// The tensor group's all-reduces of one layer per micro-batch, in forward and in backward: a
// block sums its attention's and its MLP's outputs in forward and their input gradients in
// backward (and again when its forward is recomputed), the embedding its output, the head its
// input gradient. Each all-reduces `rows` x (T, C) values in the compute precision. Under
// sequence parallelism each all-reduce is an all-gather and a reduce-scatter (the same bytes),
// and a column-parallel linear gathers its input's rows again in backward (half an all-reduce
// each: one more all-reduce's worth per block, half of one for the head).
struct TensorCalls {
  double forward = 0, backward = 0;
};
TensorCalls tensor_calls(const LayerCost& l, TensorAxis tp) {
  const double again = tp.sequence ? 1.0 : 0.0;
  if (l.type == "transformer_block") return {2, (l.recomputed ? 4.0 : 2.0) + again};
  if (l.type == "embedding") return {1, 0};
  if (l.type == "lm_head") return {0, 1 + again / 2};
  return {};
}

}  // namespace

Prediction predict(const std::vector<LayerCost>& layers, const Layout& layout, const Cluster& c,
                   int64_t optimizer_state_bytes) {
  Prediction out;
  const int P = layout.pipeline, M = layout.microbatches, D = layout.data, T = layout.tensor;
  const int V = layout.virtual_stages;
  const TensorAxis tp{T, layout.sequence_parallel && T > 1};
  out.stage_starts =
      layout.stage_starts.empty() ? balanced_partition(layers, P * V) : layout.stage_starts;
  // The pieces of the model: one per stage, or V per stage (piece k on stage k mod P).
  const std::vector<StageCost> pieces = stage_costs(layers, out.stage_starts);
  const double rows = static_cast<double>(layout.global_batch) / (D * layout.grad_accum * M);
  // Placement: a replica's P stages of T tensor ranks each are consecutive ranks (tensor ranks
  // adjacent), nodes hold devices_per_node ranks. A tensor group talks over the node's links
  // when it fits in one; neighbouring stages too when every replica does; a data group (the
  // same stage and tensor rank of every replica, P x T ranks apart) has devices_per_node /
  // (P x T) ranks per node.
  const int per_node = c.devices_per_node;
  const bool tensor_in_node = T <= per_node && per_node % T == 0;
  const double tensor_bw = tensor_in_node ? c.intra_bandwidth : c.inter_bandwidth;
  const double tensor_lat = tensor_in_node ? c.intra_latency : c.inter_latency;
  const int replica = P * T;
  const bool stages_in_node = replica <= per_node && per_node % replica == 0;
  const double bw = stages_in_node ? c.intra_bandwidth : c.inter_bandwidth;
  const double lat = stages_in_node ? c.intra_latency : c.inter_latency;
  const int data_per_node = stages_in_node ? per_node / replica : 1;

  // Activations travel between stages, and are summed over the tensor group, in the compute
  // precision.
  const double element = layout.half_compute ? 2.0 : 4.0;
  // Per stage and micro-batch: the time of its pieces' passes, of their forwards, backwards and
  // weight-gradient GEMMs; per tensor rank, its parameters and stash.
  std::vector<double> slot(P, 0.0), forward(P, 0.0), backward(P, 0.0), weights(P, 0.0);
  std::vector<int64_t> params(P, 0), stash(P, 0), shared(P, 0);
  double p2p_slot = 0.0, tensor_slot = 0.0;
  bool below_has_params = false;
  for (size_t k = 0; k < pieces.size(); ++k) {
    const int s = static_cast<int>(k % static_cast<size_t>(P));
    const StageCost& st = pieces[k];
    int64_t replicated = 0;  // parameters every tensor rank holds whole
    for (int64_t i = st.first; i < st.end; ++i) {
      const LayerCost& l = layers[i];
      // As the model does: a later piece always sends its input gradient back.
      LayerTime t = layer_time(l, below_has_params || k > 0, layout.half_compute, c, tp);
      below_has_params = below_has_params || l.params > 0;
      if (!tensor_split(l)) replicated += l.params;
      stash[s] += stash_under(l, tp);
      // The tensor all-reduces run between the layer's GEMMs: nothing hides them.
      const TensorCalls calls = T > 1 ? tensor_calls(l, tp) : TensorCalls{};
      const Shape& width = l.type == "lm_head" && i > 0 ? layers[i - 1].output : l.output;
      const double reduce = flat_allreduce(element * rows * static_cast<double>(shape_numel(width)),
                                           T, 1.0, tensor_bw, tensor_lat);
      t.forward += calls.forward * reduce / rows;
      t.backward += calls.backward * reduce / rows;
      tensor_slot += (calls.forward + calls.backward) * reduce;
      slot[s] += (t.forward + t.backward) * rows + 2.0 * c.layer_overhead;
      forward[s] += t.forward * rows + c.layer_overhead;
      backward[s] += t.backward * rows + c.layer_overhead;
      weights[s] += t.weights * rows;
    }
    // A tied copy (the head's of the embedding's table) is split as its owner.
    params[s] += replicated + (st.params - replicated) / T;
    shared[s] += st.shared_params / T;
    if (k == 0) slot[s] += c.load_per_sample * rows;
    // Each boundary moves the activation forward and its gradient back, once per micro-batch.
    if (k + 1 < pieces.size()) {
      const double bytes = element * rows *
                           static_cast<double>(shape_numel(layers[st.end - 1].output)) /
                           tp.rows_split();
      const double transfer = lat + bytes / bw;
      slot[s] += transfer;
      slot[(s + 1) % P] += transfer;
      p2p_slot = std::max(p2p_slot, transfer);
    }
  }
  // The pipeline: every micro-batch passes each stage once (fill and drain), and between them
  // the slowest stage sets the pace: sum_s t_s + (M - 1) max_s t_s. With equal stages this is
  // (M + P - 1) t, the ideal bubble (P - 1) / (M + P - 1); GPipe and 1F1B take the same time.
  // Interleaved, fill and drain pass one chunk (1/V of a stage) at a time: the bubble is divided
  // by V. zb-h1 (Qi et al.) fills all but (P - 1) (F + B - W) of it with the deferred W's: 2 (P -
  // 1) W less than 1F1B's (P - 1) (F + B + W), W (each stage's mean) being the weight-gradient
  // GEMMs; with fewer micro-batches than stages, P - M W's are missing (parallel/schedule.h).
  const double slowest = *std::max_element(slot.begin(), slot.end());
  double through = 0.0, w = 0.0;
  for (int s = 0; s < P; ++s) {
    through += slot[s];
    w += weights[s] / P;
  }
  double round = through + (M - 1) * slowest;
  if (layout.schedule == ScheduleKind::Interleaved) round = M * slowest + (through - slowest) / V;
  if (layout.schedule == ScheduleKind::ZeroBubbleH1)
    round = std::max(M * slowest, round - 2.0 * (P - 1) * w + std::max(0, P - M) * w);
  out.compute_s = layout.grad_accum * M * slowest;
  out.p2p_s = layout.grad_accum * M * 2.0 * V * p2p_slot;
  out.tensor_s = layout.grad_accum * M * tensor_slot / P;  // the average stage's
  out.bubble_s = layout.grad_accum * round - out.compute_s;

  // Data parallelism: each stage's gradients are summed over its D replicas in buckets, during
  // the last micro-batch's backward (all but the last bucket can hide behind it when the
  // cluster overlaps communication with computation).
  // Under ZeRO 1 the buckets are reduce-scattered instead (half an all-reduce's traffic), each
  // rank updates 1/D of the parameters, and the updated values are all-gathered after the update
  // (the other half), hidden behind the next forward as the reduce-scatter is behind backward
  // (each layer waits for its own bucket). ZeRO 2 reduce-scatters in every
  // micro-batch's backward, and keeps 1/D of the gradients, two buckets (one written, one
  // reducing) and the whole gradient of a tied parameter (written at both ends of backward).
  const bool zero = layout.zero > 0 && D > 1;
  const bool zero2 = layout.zero >= 2 && D > 1;
  const double passes = zero2 ? layout.grad_accum * M : 1.0;
  double exposed = 0.0, optimizer = 0.0;
  int64_t memory = 0;
  for (int s = 0; s < P; ++s) {
    const double grad_bytes = 4.0 * static_cast<double>(params[s]);
    const double buckets = std::max(1.0, std::ceil(grad_bytes / (layout.bucket_mb * (1 << 20))));
    const double all_reduce = allreduce(grad_bytes, D, data_per_node, buckets, c);
    const double reduce = zero ? all_reduce / 2 : all_reduce;
    const double hidden = c.overlap ? backward[s] * (1.0 - 1.0 / buckets) : 0.0;
    const double gather = all_reduce / 2;
    const double gather_hidden = c.overlap ? forward[s] * (1.0 - 1.0 / buckets) : 0.0;
    exposed =
        std::max(exposed, passes * std::max(reduce - hidden, reduce / buckets) +
                              (zero ? std::max(gather - gather_hidden, gather / buckets) : 0.0));
    // The update reads weight, gradient and state, and writes weight and state.
    const double updated = static_cast<double>(params[s]) / (zero ? D : 1);
    optimizer =
        std::max(optimizer, updated * (12.0 + 2.0 * optimizer_state_bytes) / c.memory_bandwidth);
    const double in_flight = peak_microbatches_held(layout.schedule, s, P, M, V);
    const int64_t held = params[s];
    // f32 masters (1/D of them under ZeRO in mixed precision) and 16-bit compute copies.
    const int64_t weights = layout.half_compute ? 2 * held + 4 * held / (zero ? D : 1) : 4 * held;
    const int64_t bucket = static_cast<int64_t>(layout.bucket_mb * (1 << 20));
    const int64_t grads =
        zero2 ? 4 * (held - shared[s]) / D + std::min(4 * held, 2 * bucket) + 4 * shared[s]
              : 4 * held;
    const int64_t state = held * optimizer_state_bytes / (zero ? D : 1);
    const auto activations = static_cast<int64_t>(in_flight * rows * static_cast<double>(stash[s]));
    if (weights + grads + state + activations > memory) {
      memory = weights + grads + state + activations;
      out.weight_bytes = weights;
      out.grad_bytes = grads;
      out.optimizer_bytes = state;
      out.activation_bytes = activations;
    }
  }
  out.allreduce_s = D > 1 ? exposed : 0.0;
  out.optimizer_s = optimizer;
  out.step_s = layout.grad_accum * round + out.allreduce_s + out.optimizer_s;
  out.samples_per_s = static_cast<double>(layout.global_batch) / out.step_s;
  out.memory_bytes = memory;
  out.fits = static_cast<double>(memory) <= c.memory_bytes;
  return out;
}

// Whether every split layer of the model cuts into T pieces (T = 1: always).
static bool splits_into(const std::vector<LayerCost>& layers, int T) {
  bool any = false;
  for (const LayerCost& l : layers) {
    if (l.tensor_units > 0 && l.tensor_units % T != 0) return false;
    any = any || l.tensor_units > 0;
  }
  return T == 1 || any;
}

// The ways to split `devices` ranks the batch divides into: tensor x pipeline x data, and
// micro-batches. Tensor groups stay inside a node, as Megatron places them (their all-reduces
// follow every layer).
static std::vector<Layout> device_splits(const std::vector<LayerCost>& layers, int devices,
                                         int64_t global_batch, const Cluster& cluster) {
  std::vector<Layout> out;
  const int max_stages = std::min<int>(devices, static_cast<int>(layers.size()));
  for (int T = 1; T <= std::min(devices, cluster.devices_per_node); T *= 2)
    for (int P = 1; P <= max_stages; ++P) {
      if (devices % (P * T) != 0 || !splits_into(layers, T)) continue;
      const int D = devices / (P * T);
      for (int M : {1, 2, 4, 8, 16, 32, 64}) {
        if (P > 1 && M < P) continue;
        if (P == 1 && M > 1) break;  // without a pipeline, micro-batches only save memory
        if (global_batch % (static_cast<int64_t>(D) * M) != 0) continue;
        Layout l;
        l.data = D;
        l.pipeline = P;
        l.tensor = T;
        l.microbatches = M;
        l.global_batch = global_batch;
        out.push_back(l);
      }
    }
  return out;
}

// The schedules a layout may run, with their chunks per stage: 1F1B, and with a pipeline zb-h1
// and interleaved over 2 and 4 chunks, each where the layout has what it needs.
static std::vector<std::pair<ScheduleKind, int>> schedules_for(const Layout& l, size_t layers) {
  std::vector<std::pair<ScheduleKind, int>> out = {{ScheduleKind::OneFOneB, 1}};
  if (l.pipeline == 1) return out;  // without stages, the others are 1F1B
  for (auto [kind, chunks] : {std::pair{ScheduleKind::ZeroBubbleH1, 1},
                              {ScheduleKind::Interleaved, 2},
                              {ScheduleKind::Interleaved, 4}})
    if (schedule_need(kind, chunks, l.pipeline, l.microbatches, static_cast<int64_t>(layers),
                      l.zero) == ScheduleNeed::Fits)
      out.push_back({kind, chunks});
  return out;
}

std::vector<std::pair<Layout, Prediction>> search_layouts(
    const std::vector<LayerCost>& layers, int devices, int64_t global_batch, const Cluster& cluster,
    int64_t optimizer_state_bytes, bool half_compute, const std::vector<LayerCost>* recomputed) {
  std::vector<std::pair<Layout, Prediction>> out;
  for (Layout l : device_splits(layers, devices, global_batch, cluster)) {
    l.half_compute = half_compute;
    // ZeRO 0, 1 and 2 with several data ranks; recompute off and on; sequence parallelism off
    // and (with tensor ranks) on; the schedules (GPipe is 1F1B's time with more memory).
    for (l.zero = 0; l.zero <= (l.data > 1 ? 2 : 0); ++l.zero)
      for (bool recompute : {false, true})
        for (bool sequence : {false, true})
          for (const auto& [schedule, chunks] : schedules_for(l, layers.size())) {
            if ((recompute && !recomputed) || (sequence && l.tensor == 1)) continue;
            l.recompute = recompute;
            l.sequence_parallel = sequence;
            l.schedule = schedule;
            l.virtual_stages = chunks;
            out.emplace_back(
                l, predict(recompute ? *recomputed : layers, l, cluster, optimizer_state_bytes));
          }
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    if (a.second.fits != b.second.fits) return a.second.fits;
    return a.second.step_s < b.second.step_s;
  });
  return out;
}

}  // namespace trainer
