// The pipeline partitioner: contiguous stages whose slowest is as fast as any split allows.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>

#include "parallel/partition.h"

namespace trainer {
namespace {

// Layers whose estimated time is exactly `flops` x 3 (no elements touched besides).
std::vector<LayerCost> layers_of(const std::vector<int64_t>& flops) {
  std::vector<LayerCost> out;
  for (int64_t f : flops) out.push_back({"linear", "", {0}, f, f, 4 * f});
  return out;
}

double slowest(const std::vector<LayerCost>& layers, const std::vector<int64_t>& starts) {
  double worst = 0.0;
  for (const StageCost& s : stage_costs(layers, starts)) {
    double t = 0.0;
    for (int64_t i = s.first; i < s.end; ++i) t += layer_time_estimate(layers[i]);
    worst = std::max(worst, t);
  }
  return worst;
}

// The best slowest stage over every split, by trying them all.
double brute_force(const std::vector<LayerCost>& layers, int stages) {
  double best = 1e300;
  std::vector<int64_t> starts;
  std::function<void(int64_t)> place = [&](int64_t from) {
    if (static_cast<int>(starts.size()) == stages - 1) {
      best = std::min(best, slowest(layers, starts));
      return;
    }
    for (int64_t i = from; i < static_cast<int64_t>(layers.size()); ++i) {
      starts.push_back(i);
      place(i + 1);
      starts.pop_back();
    }
  };
  place(1);
  return best;
}

TEST(PartitionTest, EqualLayersSplitEvenly) {
  const std::vector<LayerCost> layers = layers_of({5, 5, 5, 5, 5, 5, 5, 5});
  EXPECT_EQ(balanced_partition(layers, 1), std::vector<int64_t>{});
  EXPECT_EQ(balanced_partition(layers, 2), (std::vector<int64_t>{4}));
  EXPECT_EQ(balanced_partition(layers, 4), (std::vector<int64_t>{2, 4, 6}));
  EXPECT_EQ(balanced_partition(layers, 8), (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7}));
}

TEST(PartitionTest, AHeavyLayerGetsAStageOfItsOwn) {
  const std::vector<LayerCost> layers = layers_of({1, 1, 10, 1, 1});
  EXPECT_EQ(balanced_partition(layers, 3), (std::vector<int64_t>{2, 3}));
  EXPECT_DOUBLE_EQ(slowest(layers, balanced_partition(layers, 3)), 30.0);
}

TEST(PartitionTest, NoSplitHasAFasterSlowestStage) {
  std::mt19937 gen(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 1 + static_cast<int>(gen() % 10);
    std::vector<int64_t> flops(static_cast<size_t>(n));
    for (int64_t& f : flops) f = 1 + static_cast<int64_t>(gen() % 100);
    const std::vector<LayerCost> layers = layers_of(flops);
    for (int stages = 1; stages <= n; ++stages) {
      const std::vector<int64_t> starts = balanced_partition(layers, stages);
      ASSERT_EQ(starts.size(), static_cast<size_t>(stages - 1));
      for (size_t i = 0; i < starts.size(); ++i)
        ASSERT_GT(starts[i], i ? starts[i - 1] : 0) << "every stage has a layer";
      ASSERT_DOUBLE_EQ(slowest(layers, starts), brute_force(layers, stages));
    }
  }
}

TEST(PartitionTest, StageTotalsAddUpTheirLayers) {
  const std::vector<StageCost> stages = stage_costs(layers_of({1, 2, 3, 4}), {1, 3});
  ASSERT_EQ(stages.size(), 3u);
  EXPECT_EQ(stages[0].first, 0);
  EXPECT_EQ(stages[0].end, 1);
  EXPECT_EQ(stages[1].params, 5);
  EXPECT_EQ(stages[1].stash_bytes_per_sample, 20);
  EXPECT_EQ(stages[2].flops_per_sample, 4);
  EXPECT_EQ(stages[2].end, 4);
}

// A head tied to layer 0's parameter holds a copy of it only on a stage without layer 0; every
// stage with either end of the tie counts it as shared, once.
TEST(PartitionTest, AStageHoldsACopyOfATiedParameterWhoseOwnerIsElsewhere) {
  std::vector<LayerCost> layers = layers_of({1, 2, 3, 4, 5});
  layers[3].tied_owner = 0;
  layers[3].tied_params = 1;  // layer 0's own
  EXPECT_EQ(stage_costs(layers, {}).at(0).params, 15);
  EXPECT_EQ(stage_costs(layers, {}).at(0).shared_params, 1);
  const std::vector<StageCost> three = stage_costs(layers, {2, 4});
  EXPECT_EQ(three.at(0).params, 3);
  EXPECT_EQ(three.at(1).params, 7 + 1);
  EXPECT_EQ(three.at(2).params, 5);
  EXPECT_EQ(three.at(0).shared_params, 1);
  EXPECT_EQ(three.at(1).shared_params, 1);
  EXPECT_EQ(three.at(2).shared_params, 0);
}

TEST(PartitionTest, MoreStagesThanLayersIsRefused) {
  EXPECT_THROW(balanced_partition(layers_of({1, 2}), 3), std::invalid_argument);
}

}  // namespace
}  // namespace trainer
