// The cost model against hand-computed figures: the pipeline's fill and drain, the ring
// all-reduce's alpha-beta cost, memory per schedule, and the layout search.
#include <gtest/gtest.h>

#include "core/layers/attention.h"
#include "parallel/cost_model.h"

namespace trainer {
namespace {

// A cluster where a linear layer of F forward FLOPs takes F microseconds forward, and nothing
// else costs anything unless a test says so.
Cluster unit_cluster() {
  Cluster c;
  c.name = "unit";
  c.devices_per_node = 64;
  c.gemm_flops = c.conv_flops = 1e6;
  c.memory_bandwidth = 1e30;
  c.memory_bytes = 1e12;
  c.intra_bandwidth = c.inter_bandwidth = 1e30;
  c.overlap = false;
  return c;
}

// n linear layers of `flops` forward FLOPs per sample and `params` parameters each.
std::vector<LayerCost> linears(int n, int64_t flops, int64_t params = 0, int64_t stash = 0) {
  return std::vector<LayerCost>(static_cast<size_t>(n),
                                LayerCost{"linear", "", {1}, params, flops, stash});
}

TEST(CostModelTest, EqualStagesIdleForTheTextbookBubble) {
  // 8 layers of 1 FLOP/sample: forward 1 us per row, backward 2 us (dx and dW) except the
  // first layer's (dW only, 1 us). 4 stages of 2 layers, 8 micro-batches of 4 rows.
  Layout l;
  l.pipeline = 4;
  l.microbatches = 8;
  l.global_batch = 32;
  const Prediction p = predict(linears(8, 1, 1), l, unit_cluster(), 0);
  // Stage 0: 2 forwards (2 us) + backwards 1 + 2 (3 us) = 5 us per row; others 6 us per row.
  const double t = 6e-6 * 4, t0 = 5e-6 * 4;
  EXPECT_NEAR(p.compute_s, 8 * t, 1e-12);
  EXPECT_NEAR(p.step_s, t0 + 3 * t + 7 * t, 1e-12);  // sum of stages + (M - 1) x the slowest
  EXPECT_NEAR(p.bubble_s, p.step_s - 8 * t, 1e-12);
  // Had stage 0 been as slow as the rest, the bubble would be (P-1)/(M+P-1) of the step.
  EXPECT_NEAR((p.bubble_s + (t - t0)) / (p.step_s + (t - t0)), 3.0 / 11.0, 1e-12);
}

TEST(CostModelTest, SchedulesShortenTheBubbleAsTheirFormulasSay) {
  // The model of the test above: 1F1B's step sum_s t_s + (M - 1) max_s t_s = 260 us.
  Layout l;
  l.pipeline = 4;
  l.microbatches = 8;
  l.global_batch = 32;
  const std::vector<LayerCost> layers = linears(8, 1, 1, 100);
  const Prediction base = predict(layers, l, unit_cluster(), 0);
  EXPECT_NEAR(base.step_s, 260e-6, 1e-12);
  // zb-h1: W (each linear's weight-gradient GEMM, 1 us per row: 8 us per micro-batch on every
  // stage) fills 2 (P - 1) W of it; every stage holds min(M, P) micro-batches.
  l.schedule = ScheduleKind::ZeroBubbleH1;
  const Prediction zb = predict(layers, l, unit_cluster(), 0);
  EXPECT_NEAR(zb.step_s, 260e-6 - 2 * 3 * 8e-6, 1e-12);
  EXPECT_EQ(zb.activation_bytes, 4 * 4 * 2 * 100);  // the peak stage: 4 held x 4 rows x 200 B
  // Interleaved over 2 chunks: 8 pieces of one layer, stage s holds pieces s and s + 4 (stage
  // 0's 20 us per micro-batch, the others' 24): M x 24 + (92 - 24) / V.
  l.schedule = ScheduleKind::Interleaved;
  l.virtual_stages = 2;
  const Prediction inter = predict(layers, l, unit_cluster(), 0);
  EXPECT_NEAR(inter.step_s, 8 * 24e-6 + (92e-6 - 24e-6) / 2, 1e-12);
  EXPECT_EQ(inter.stage_starts, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7}));
  // Stage 0 holds (2 (P - 1) + (V - 1) P + 1) / V = 5.5 micro-batches of its 200 B per row.
  EXPECT_EQ(inter.activation_bytes, static_cast<int64_t>(5.5 * 4 * 200));
}

TEST(CostModelTest, RingAllReduceIsAlphaBeta) {
  Cluster c = unit_cluster();
  c.intra_bandwidth = 1e9;
  c.intra_latency = 1e-6;
  Layout l;
  l.data = 4;
  l.global_batch = 4;
  l.bucket_mb = 1;  // 3 MB of gradients: 3 buckets
  const int64_t params = 3 * (1 << 20) / 4;
  const Prediction p = predict(linears(1, 1, params), l, c, 0);
  const double bytes = 4.0 * params;
  EXPECT_NEAR(p.allreduce_s, 2.0 * 3 / 4 * bytes / 1e9 + 2.0 * 3 * 1e-6 * 3, 1e-12);
  // With overlap, all but the last bucket hide behind backward when backward is long enough.
  c.overlap = true;
  c.gemm_flops = 1e-3;  // a very slow backward
  EXPECT_NEAR(predict(linears(1, 1, params), l, c, 0).allreduce_s, p.allreduce_s / 3, 1e-12);
}

TEST(CostModelTest, OneFOneBHoldsFewerMicrobatchesThanGPipe) {
  Layout l;
  l.pipeline = 2;
  l.microbatches = 8;
  l.global_batch = 64;  // 8 rows per micro-batch
  const std::vector<LayerCost> layers = linears(4, 1, 10, 100);
  l.schedule = ScheduleKind::GPipe;
  const Prediction gpipe = predict(layers, l, unit_cluster(), 8);
  l.schedule = ScheduleKind::OneFOneB;
  const Prediction one_f_one_b = predict(layers, l, unit_cluster(), 8);
  // Stage 0: 20 parameters x (weight + gradient + Adam state) + in flight x 8 rows x 200 B.
  EXPECT_EQ(gpipe.memory_bytes, 20 * 16 + 8 * 8 * 200);
  EXPECT_EQ(one_f_one_b.memory_bytes, 20 * 16 + 2 * 8 * 200);
  EXPECT_DOUBLE_EQ(gpipe.step_s, one_f_one_b.step_s);
}

TEST(CostModelTest, SearchListsFittingLayoutsOfTheDeviceCountFastestFirst) {
  Cluster c = unit_cluster();
  c.memory_bytes = 1000;
  const auto found = search_layouts(linears(4, 1, 10, 100), 4, 64, c);
  ASSERT_FALSE(found.empty());
  for (size_t i = 0; i < found.size(); ++i) {
    EXPECT_EQ(found[i].first.ranks(), 4);
    EXPECT_EQ(64 % (found[i].first.data * found[i].first.microbatches), 0);
    if (i == 0) continue;
    const Prediction &a = found[i - 1].second, &b = found[i].second;
    EXPECT_TRUE(a.fits >= b.fits);
    if (a.fits == b.fits) {
      EXPECT_LE(a.step_s, b.step_s);
    }
  }
  EXPECT_THROW(cluster_preset("tpu"), std::invalid_argument);
  EXPECT_EQ(cluster_preset("h100").devices_per_node, 8);
  EXPECT_EQ(cluster_preset("a100").half_gemm_flops, 250e12);
  EXPECT_EQ(cluster_presets(), (std::vector<std::string>{"a100", "cpu", "h100"}));
}

// In fp16/bf16 the GEMMs run at the cluster's tensor-core rate (where it has one).
TEST(CostModelTest, HalfPrecisionGemmsRunAtTheTensorCoreRate) {
  Cluster c = unit_cluster();
  Layout l;
  const double fp32 = predict(linears(2, 1000), l, c, 0).compute_s;
  l.half_compute = true;
  EXPECT_DOUBLE_EQ(predict(linears(2, 1000), l, c, 0).compute_s, fp32);  // no tensor cores
  c.half_gemm_flops = 2 * c.gemm_flops;
  EXPECT_NEAR(predict(linears(2, 1000), l, c, 0).compute_s, fp32 / 2, 1e-12);
}

// Collectives as NCCL runs them: within the node, then between nodes (each rank's 1/8 on its own
// link), by ring or, for small pieces over many nodes, by tree, whose latency grows as log2 of
// the nodes instead of with every rank.
TEST(CostModelTest, AllReducesAreHierarchicalAndUseTreesWhereFaster) {
  Cluster c = unit_cluster();
  c.devices_per_node = 8;
  c.intra_bandwidth = 1e9;
  c.inter_bandwidth = 1e8;
  c.intra_latency = 0.0;
  c.inter_latency = 1e-5;
  Layout l;
  l.data = 16;  // 2 nodes
  l.global_batch = 16;
  // 4 MB of gradients: a ring within each node (2 x 7/8 x 4 MB at 1 GB/s) and a ring of the two
  // nodes for each rank's 0.5 MB (0.5 MB at 100 MB/s), plus two latencies.
  EXPECT_NEAR(predict(linears(1, 1, 1000000), l, c, 0).allreduce_s, 7e-3 + 5e-3 + 2e-5, 1e-9);
  // 4 bytes over 128 nodes: a tree's 2 log2(128) latencies, not a ring's 2 x 1023.
  l.data = l.global_batch = 1024;
  EXPECT_NEAR(predict(linears(1, 1, 1), l, c, 0).allreduce_s, 14e-5, 1e-6);
  // A replica of 8 stages fills a node, so a data group's two ranks are on two nodes: each
  // stage's 0.5 MB goes over the network alone (a ring of two: 0.5 MB at 100 MB/s).
  l.pipeline = 8;
  l.microbatches = 8;
  l.data = 2;
  l.global_batch = 16;
  EXPECT_NEAR(predict(linears(8, 1, 125000), l, c, 0).allreduce_s, 0.5e6 / 1e8 + 2e-5, 1e-9);
}

// ZeRO 1 divides the optimizer state by the data ranks, ZeRO 2 the gradients too, and recompute
// shrinks the stash, each in the memory figure and its parts; the search finds the layouts that fit
// only with them.
TEST(CostModelTest, ZeroAndRecomputeDecideWhatFits) {
  Cluster c = unit_cluster();
  const std::vector<LayerCost> model = linears(1, 1, 1000, 300);
  Layout l;
  l.data = 4;
  l.global_batch = 4;  // one sample per rank
  const Prediction plain = predict(model, l, c);
  EXPECT_EQ(plain.optimizer_bytes, 8000);
  EXPECT_EQ(plain.memory_bytes, 4000 + 4000 + 8000 + 300);
  l.zero = 1;
  const Prediction zero = predict(model, l, c);
  EXPECT_EQ(zero.optimizer_bytes, 2000);
  EXPECT_EQ(zero.weight_bytes + zero.grad_bytes + zero.activation_bytes, 8300);
  EXPECT_EQ(zero.memory_bytes, 10300);
  // ZeRO 2 keeps a quarter of the gradients and two buckets in flight (of 250 floats here).
  l.zero = 2;
  l.bucket_mb = 1000.0 / (1 << 20);
  const Prediction two = predict(model, l, c);
  EXPECT_EQ(two.grad_bytes, 1000 + 2 * 1000);
  EXPECT_EQ(two.memory_bytes, 4000 + 3000 + 2000 + 300);
  EXPECT_GT(two.allreduce_s, 0.0);
  // In mixed precision ZeRO shards the f32 masters too: 2 bytes of copy + 4 / 4 of master.
  l.half_compute = true;
  EXPECT_EQ(predict(model, l, c).weight_bytes, 2000 + 1000);
  l.zero = 0;
  EXPECT_EQ(predict(model, l, c).weight_bytes, 6000);
  l.half_compute = false;

  c.memory_bytes = 10200;  // fits with ZeRO 1 and a smaller stash only
  const std::vector<LayerCost> recomputed = linears(1, 1, 1000, 100);
  const auto found = search_layouts(model, 4, 4, c, 8, false, &recomputed);
  ASSERT_FALSE(found.empty());
  EXPECT_TRUE(found[0].second.fits);
  EXPECT_EQ(found[0].first.data, 4);
  EXPECT_EQ(found[0].first.zero, 1);
  EXPECT_TRUE(found[0].first.recompute);
  for (const auto& [layout, p] : found) {
    if (!layout.zero || !layout.recompute) {
      EXPECT_FALSE(p.fits) << layout.data;
    }
  }
}

// A transformer block of C channels over S positions, as the model reports it: 12 C² + 13 C
// parameters, 24 S C² + 4 S² C forward FLOPs, activations of 16 S C + 2 heads x S floats kept
// (the attention's row statistics) and heads x S² more streamed (its scores).
LayerCost block(int64_t S, int64_t C, int64_t heads) {
  LayerCost l{"transformer_block",
              "",
              {S, C},
              12 * C * C + 13 * C,
              24 * S * C * C + 4 * S * S * C,
              4 * (16 * S * C + 2 * heads * S)};
  l.activation_bytes_per_sample = l.stash_bytes_per_sample;
  l.streamed_bytes_per_sample = l.stash_bytes_per_sample + 4 * heads * S * S;
  l.tensor_units = heads;
  return l;
}

// Tensor parallelism divides a block's GEMMs, weights and split activations by T and adds its
// four all-reduces of the (S, C) activations (two in forward, two in backward) on the node's
// links; layers it does not split (a layer norm) stay whole; the search tries only tensor sizes
// that divide the heads, inside a node.
TEST(CostModelTest, TensorParallelismSplitsBlocksAndPaysTheirAllReduces) {
  Cluster c = unit_cluster();
  c.devices_per_node = 8;
  c.intra_bandwidth = 1e9;
  const int64_t S = 4, C = 8, heads = 4;
  const std::vector<LayerCost> model = {block(S, C, heads),
                                        LayerCost{"layer_norm", "", {S, C}, 2 * C, 0, 0}};
  Layout l;
  l.global_batch = 1;
  const Prediction one = predict(model, l, c, 8);
  l.tensor = 2;
  const Prediction two = predict(model, l, c, 8);
  // Weights: the block's parameters halved, the layer norm's whole.
  const int64_t block_params = 12 * C * C + 13 * C;
  EXPECT_EQ(one.weight_bytes, 4 * (block_params + 2 * C));
  EXPECT_EQ(two.weight_bytes, 4 * (block_params / 2 + 2 * C));
  EXPECT_EQ(two.optimizer_bytes, 8 * (block_params / 2 + 2 * C));
  // Activations: 16 S C bytes whole on each rank, the rest halved.
  const int64_t stash = 4 * (16 * S * C + 2 * heads * S);
  EXPECT_EQ(one.activation_bytes, stash);
  EXPECT_EQ(two.activation_bytes, 16 * S * C + (stash - 16 * S * C) / 2);
  // Time: half the GEMMs (forward F, backward F: the model's first layer computes no input
  // gradient), plus four ring all-reduces of S x C f32 over 2 ranks (each 2 x 1/2 x 128 bytes at
  // 1 GB/s).
  const double gemms = 2.0 * static_cast<double>(model[0].flops_per_sample) / c.gemm_flops;
  EXPECT_NEAR(one.compute_s, gemms, 1e-12);
  EXPECT_NEAR(two.tensor_s, 4 * 4.0 * S * C / 1e9, 1e-15);
  EXPECT_NEAR(two.compute_s, gemms / 2 + two.tensor_s, 1e-12);
  // Sequence parallelism: every activation byte halved, and each block's column-parallel inputs
  // gathered again in backward (one more all-reduce's worth).
  l.sequence_parallel = true;
  const Prediction sequence = predict(model, l, c, 8);
  EXPECT_EQ(sequence.activation_bytes, stash / 2);
  EXPECT_NEAR(sequence.tensor_s, 5 * 4.0 * S * C / 1e9, 1e-15);
  l.sequence_parallel = false;
  // A tensor group wider than a node talks over the network.
  c.inter_bandwidth = 1e8;
  l.tensor = 16;
  EXPECT_GT(predict(model, l, c, 8).tensor_s, 16 * 4 * 4.0 * S * C / 1e9);

  // 4 heads: the search tries tensor 1, 2 and 4 (not 8, which does not divide them).
  bool two_seen = false, four_seen = false;
  for (const auto& [layout, p] : search_layouts(model, 8, 8, c)) {
    EXPECT_LE(layout.tensor, 4);
    EXPECT_EQ(layout.ranks(), 8);
    two_seen = two_seen || layout.tensor == 2;
    four_seen = four_seen || layout.tensor == 4;
  }
  EXPECT_TRUE(two_seen && four_seen);
  // A model without split layers is never given tensor ranks.
  for (const auto& [layout, p] : search_layouts(linears(2, 1000), 8, 8, c))
    EXPECT_EQ(layout.tensor, 1);
}

// A block's time streams the bytes it writes and reads again beside its GEMMs, the attention's
// scores among them though backward makes them again rather than keeping them: 2x forward, 3x
// backward (the model's first layer: its backward has no input gradient, but the same traffic).
// Its memory is what it keeps alone. Split 2 ways, both are halved beyond the 16 bytes per
// (position, channel) every tensor rank holds.
TEST(CostModelTest, ABlocksStreamedScoresCostTimeButNoMemory) {
  Cluster c = unit_cluster();
  c.gemm_flops = 1e30;
  c.memory_bandwidth = 1e9;
  const int64_t S = 16, C = 8, heads = 2;
  const LayerCost b = block(S, C, heads);
  Layout l;
  l.global_batch = 1;
  const Prediction one = predict({b}, l, c, 8);
  EXPECT_EQ(one.activation_bytes, b.stash_bytes_per_sample);
  EXPECT_NEAR(one.compute_s, 5.0 * static_cast<double>(b.streamed_bytes_per_sample) / 1e9, 1e-15);
  l.tensor = 2;
  const Prediction two = predict({b}, l, c, 8);
  const double whole = 16.0 * S * C;
  EXPECT_NEAR(two.compute_s,
              5.0 * (whole + (static_cast<double>(b.streamed_bytes_per_sample) - whole) / 2) / 1e9,
              1e-15);
}

// The flash kernels keep a block's scores on chip on a GPU computing in 16 bits (a cluster with a
// tensor-core rate): only there its time leaves out fused_bytes_per_sample. The layer says which
// heads those are: 32-channel heads are the kernels', 4-channel ones are not.
TEST(CostModelTest, FusedScoresCostNoTimeOnlyInSixteenBitsOnAGpu) {
  Cluster c = unit_cluster();
  c.gemm_flops = 1e30;
  c.memory_bandwidth = 1e9;
  const int64_t S = 16, C = 8, heads = 2;
  LayerCost b = block(S, C, heads);
  b.fused_bytes_per_sample = 4 * heads * S * S;
  Layout l;
  l.global_batch = 1;
  const double all = 5.0 * static_cast<double>(b.streamed_bytes_per_sample) / 1e9;
  l.half_compute = true;
  EXPECT_NEAR(predict({b}, l, c, 8).compute_s, all, 1e-15);  // no tensor-core rate: a CPU
  c.half_gemm_flops = 1e30;
  EXPECT_NEAR(
      predict({b}, l, c, 8).compute_s,
      5.0 * static_cast<double>(b.streamed_bytes_per_sample - b.fused_bytes_per_sample) / 1e9,
      1e-15);
  l.half_compute = false;
  EXPECT_NEAR(predict({b}, l, c, 8).compute_s, all, 1e-15);

  EXPECT_EQ(CausalSelfAttention(S, 64, 2, {}).fused_bytes_per_sample(), 4 * 2 * S * S);
  EXPECT_EQ(CausalSelfAttention(S, 8, 2, {}).fused_bytes_per_sample(), 0);
}

}  // namespace
}  // namespace trainer
