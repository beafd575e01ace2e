// Batches: every sample once per epoch, an order fixed by (seed, epoch), shards that partition.
#include <gtest/gtest.h>

#include <set>

#include "core/data/loader.h"
#include "core/data/synthetic_dataset.h"
#include "core/ops.h"

namespace trainer {
namespace {

// A data set whose sample i is the single value i, so batches show which samples they hold.
class Indexed : public Dataset {
 public:
  explicit Indexed(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  Shape sample_shape() const override { return {1}; }
  int64_t num_classes() const override { return 1; }
  void gather(const int64_t* idx, int64_t n, void* out, int32_t* y) const override {
    for (int64_t i = 0; i < n; ++i) {
      static_cast<float*>(out)[i] = static_cast<float>(idx[i]);
      y[i] = 0;
    }
  }

 private:
  int64_t n_;
};

std::vector<int64_t> epoch_order(DataLoader& l, int64_t epoch) {
  std::vector<int64_t> out;
  for (int64_t b = 0; b < l.batches_per_epoch(); ++b) {
    Batch batch = l.load(epoch, b, 0, l.batch_rows(b));
    for (int64_t i = 0; i < batch.x.numel(); ++i)
      out.push_back(static_cast<int64_t>(batch.x.f32()[i]));
  }
  return out;
}

TEST(LoaderTest, TrainingEpochDropsTheRemainderAndRepeatsNoSample) {
  Indexed data(103);
  DataLoader l(data, 10, true, 1);
  EXPECT_EQ(l.batches_per_epoch(), 10);
  const std::vector<int64_t> order = epoch_order(l, 0);
  EXPECT_EQ(order.size(), 100u);
  EXPECT_EQ(std::set<int64_t>(order.begin(), order.end()).size(), 100u);
}

TEST(LoaderTest, OrderIsAFunctionOfSeedAndEpoch) {
  Indexed data(64);
  DataLoader a(data, 8, true, 1), b(data, 8, true, 1), c(data, 8, true, 2);
  EXPECT_EQ(epoch_order(a, 3), epoch_order(b, 3));
  EXPECT_NE(epoch_order(a, 3), epoch_order(a, 4));
  EXPECT_NE(epoch_order(a, 3), epoch_order(c, 3));
  EXPECT_EQ(epoch_order(a, 3), epoch_order(b, 3));  // after visiting another epoch
}

TEST(LoaderTest, EvaluationVisitsEverySampleInOrder) {
  Indexed data(23);
  DataLoader l(data, 10, false, 1);
  EXPECT_EQ(l.batches_per_epoch(), 3);
  EXPECT_EQ(l.batch_rows(2), 3);
  std::vector<int64_t> expected(23);
  for (int64_t i = 0; i < 23; ++i) expected[static_cast<size_t>(i)] = i;
  EXPECT_EQ(epoch_order(l, 0), expected);
}

TEST(LoaderTest, ShardsOfABatchAreItsRows) {
  Indexed data(40);
  DataLoader l(data, 8, true, 5);
  Batch whole = l.load(2, 1, 0, 8);
  Batch shard = l.load(2, 1, 4, 8);
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(shard.x.f32()[i], whole.x.f32()[4 + i]);
}

TEST(LoaderTest, SyntheticSamplesAreReproducibleAndSplitsDiffer) {
  SyntheticDataset train(100, {2, 3}, 4, 0.5f, 9, Split::Train);
  SyntheticDataset again(100, {2, 3}, 4, 0.5f, 9, Split::Train);
  SyntheticDataset test(100, {2, 3}, 4, 0.5f, 9, Split::Test);
  float a[6], b[6], c[6];
  int32_t ya, yb, yc;
  const int64_t i = 17;
  train.gather(&i, 1, a, &ya);
  again.gather(&i, 1, b, &yb);
  test.gather(&i, 1, c, &yc);
  EXPECT_EQ(ya, yb);
  for (int k = 0; k < 6; ++k) EXPECT_EQ(a[k], b[k]);
  EXPECT_NE(a[0], c[0]);
  EXPECT_LT(ya, 4);
}

// The kernel that gathers batches out of a data set kept on the GPU, on its CPU twin.
TEST(LoaderTest, GatherRowsPicksRowsByIndex) {
  Tensor table = Tensor::empty({4, 3});
  for (int64_t i = 0; i < 12; ++i) table.f32()[i] = static_cast<float>(i);
  Tensor idx = Tensor::empty({3}, DType::I32);
  const int32_t picks[3] = {2, 0, 2};
  for (int i = 0; i < 3; ++i) idx.i32()[i] = picks[i];
  Tensor out = Tensor::empty({3, 3});
  ops::gather_rows(table, idx, out);
  const std::vector<float> got(out.f32(), out.f32() + 9);
  EXPECT_EQ(got, (std::vector<float>{6, 7, 8, 0, 1, 2, 6, 7, 8}));
}

}  // namespace
}  // namespace trainer
