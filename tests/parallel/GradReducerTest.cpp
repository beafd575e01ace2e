// The reducer's contract without MPI: buckets in reverse layer order, each all-reduce started as
// soon as backward has produced all of its gradients, every gradient reduced exactly once.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/layers/activation.h"
#include "core/layers/linear.h"
#include "parallel/grad_reducer.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

// Records every asynchronous all-reduce and, like a sum over two identical ranks, doubles it.
// As rank 0 of two such ranks, a reduce-scatter doubles rank 0's share and poisons the rest
// (which the contract leaves undefined).
class RecordingCommunicator : public SelfCommunicator {
 public:
  std::unique_ptr<Work> all_reduce_async(float* data, int64_t n, ReduceOp op) override {
    calls.push_back({n, events.size()});
    for (int64_t i = 0; i < n; ++i) data[i] *= 2.0f;
    return SelfCommunicator::all_reduce_async(data, n, op);
  }
  // A gather completes when waited for; the order of both is recorded (by count).
  std::unique_ptr<Work> all_gather_in_place_async(void*, const std::vector<int64_t>& counts,
                                                  DType) override {
    class Waited : public Work {
     public:
      Waited(std::vector<int64_t>& log, int64_t count) : log_(log), count_(count) {}
      void wait() override {
        if (!done_) log_.push_back(count_);
        done_ = true;
      }
      bool done() const override { return done_; }
      trace::Clock::time_point finished_at() const override { return {}; }

     private:
      std::vector<int64_t>& log_;
      int64_t count_;
      bool done_ = false;
    };
    gathers.push_back(counts[0] + counts[1]);
    return std::make_unique<Waited>(gathered, counts[0] + counts[1]);
  }
  std::vector<int64_t> gathers, gathered;  // issued, waited for
  std::unique_ptr<Work> reduce_scatter_in_place_async(float* data,
                                                      const std::vector<int64_t>& counts) override {
    calls.push_back({counts[0] + counts[1], events.size()});
    for (int64_t i = 0; i < counts[0]; ++i) data[i] *= 2.0f;
    for (int64_t i = counts[0]; i < counts[0] + counts[1]; ++i) data[i] = std::nanf("");
    return completed_work();
  }
  struct Call {
    int64_t count;
    size_t after_events;  // how many backward layers had finished when it started
  };
  std::vector<Call> calls;
  std::vector<size_t> events;
};

TEST(GradReducerTest, BucketsStartInReverseLayerOrderAsSoonAsTheirLayersAreDone) {
  Model model({8}, 1);
  model.add(std::make_unique<Linear>(8, 16, true, InitScheme::Default, model.next_init()));  // 144
  model.add(std::make_unique<ActivationLayer>(ops::Activation::Tanh, Shape{16}, InitContext{0, 1}));
  model.add(std::make_unique<Linear>(16, 16, true, InitScheme::Default, model.next_init()));  // 272
  model.add(std::make_unique<Linear>(16, 4, true, InitScheme::Default, model.next_init()));   // 68
  RecordingCommunicator comm;
  // 200 floats a bucket, closed once it reaches them, in the order backward completes the
  // parameters, each at a multiple of 64 floats in the model's flat buffer: [layer 3 weight 64,
  // bias 4 (+60 to align), layer 2 weight 256], [layer 2 bias 16 (+48), layer 0 weight 128,
  // bias 16]
  GradReducer reducer(comm, model, 200 * 4.0 / (1 << 20));
  EXPECT_EQ(reducer.buckets(), 2u);

  // The gradients a plain backward produces, to compare with the reduced ones.
  const Tensor x = test::random_tensor({5, 8}, 1);
  ModelStash stash;
  Tensor y = model.forward(x, stash, {});
  const Tensor dy = test::random_tensor(y.shape(), 2);
  model.zero_grad();
  model.backward(dy, stash);
  std::vector<float> plain;
  for (Param* p : model.params())
    plain.insert(plain.end(), p->grad.f32(), p->grad.f32() + p->grad.numel());

  model.zero_grad();
  model.forward(x, stash, {});
  model.backward(dy, stash, {nullptr, [&](size_t i) {
                               comm.events.push_back(i);
                               reducer.layer_done(i);
                             }});
  reducer.finish();
  ASSERT_EQ(comm.calls.size(), 2u);
  EXPECT_EQ(comm.calls[0].count, 64 + 4 + 60 + 256);
  EXPECT_EQ(comm.calls[0].after_events, 2u);  // started right after layer 2, before 1 and 0
  EXPECT_EQ(comm.calls[1].count, 16 + 48 + 128 + 16);
  EXPECT_EQ(comm.calls[1].after_events, 4u);
  size_t k = 0;
  for (Param* p : model.params())
    for (int64_t i = 0; i < p->grad.numel(); ++i, ++k)
      ASSERT_EQ(p->grad.f32()[i], 2.0f * plain[k]) << p->name;
}

// ZeRO 2 on rank 0 of two: every backward pass reduce-scatters each bucket as it completes and
// adds the rank's share into the shard's gradients; no bucket buffer outlives its pass.
TEST(GradReducerTest, ZeroTwoAddsEachPassIntoTheShardAndFreesItsBuckets) {
  Model model({8}, 1);
  model.add(std::make_unique<Linear>(8, 16, true, InitScheme::Default, model.next_init()));
  model.add(std::make_unique<ActivationLayer>(ops::Activation::Tanh, Shape{16}, InitContext{0, 1}));
  model.add(std::make_unique<Linear>(16, 16, true, InitScheme::Default, model.next_init()));
  model.add(std::make_unique<Linear>(16, 4, true, InitScheme::Default, model.next_init()));
  const Tensor x1 = test::random_tensor({5, 8}, 1), x2 = test::random_tensor({3, 8}, 3);
  ModelStash stash;
  // Plain gradients of both passes, summed in the flat buffer.
  model.zero_grad();
  for (const Tensor& x : {x1, x2}) {
    const Tensor y = model.forward(x, stash, {});
    model.backward(test::random_tensor(y.shape(), x.shape()[0]), stash);
  }
  const Tensor& flat = model.flat_grads();
  const std::vector<float> plain(flat.f32(), flat.f32() + flat.numel());

  const ZeroShards zero = make_zero_shards(model, 2, 2, 0);
  EXPECT_FALSE(model.flat_grads().defined());
  RecordingCommunicator comm;
  GradReducer reducer(comm, model, 200 * 4.0 / (1 << 20), {}, zero);
  reducer.begin_step(2);
  for (const Tensor& x : {x1, x2}) {
    const Tensor y = model.forward(x, stash, {});
    model.backward(test::random_tensor(y.shape(), x.shape()[0]), stash, reducer.hooks());
    for (Param* p : model.params()) EXPECT_FALSE(p->grad.defined()) << p->name;
  }
  reducer.finish();
  EXPECT_EQ(comm.calls.size(), 4u);  // two buckets, two passes
  const std::vector<float> shard(zero.grads.f32(), zero.grads.f32() + zero.grads.numel());
  ASSERT_EQ(shard.size(), static_cast<size_t>(zero.mine.size()));
  for (size_t i = 0; i < shard.size(); ++i)
    ASSERT_FLOAT_EQ(shard[i], 2.0f * plain[i]) << "element " << i;
}

// An activation that notes how many gathers had been waited for when its forward ran.
class Probe : public ActivationLayer {
 public:
  Probe(const std::vector<int64_t>& gathered, size_t& seen)
      : ActivationLayer(ops::Activation::Tanh, Shape{16}, InitContext{0, 1}),
        gathered_(gathered),
        seen_(seen) {}
  Tensor forward(const Tensor& x, Stash& saved, const ForwardContext& ctx) override {
    seen_ = gathered_.size();
    return ActivationLayer::forward(x, saved, ctx);
  }

 private:
  const std::vector<int64_t>& gathered_;
  size_t& seen_;
};

// ZeRO's gather of updated weights is issued lowest layers first, and the next forward waits for
// each bucket just before the first layer that reads it: layer 1 runs while the gather of the
// bucket of layers 2 and 3 may still be in flight.
TEST(GradReducerTest, TheNextForwardWaitsForEachLayersGatheredWeightsOnly) {
  RecordingCommunicator comm;
  size_t seen_by_layer_1 = 99;
  Model model({8}, 1);
  model.add(std::make_unique<Linear>(8, 16, true, InitScheme::Default, model.next_init()));
  model.add(std::make_unique<Probe>(comm.gathered, seen_by_layer_1));
  model.add(std::make_unique<Linear>(16, 16, true, InitScheme::Default, model.next_init()));
  model.add(std::make_unique<Linear>(16, 4, true, InitScheme::Default, model.next_init()));
  model.to(Device::cpu());
  const ZeroShards zero = make_zero_shards(model, 1, 2, 0);
  GradReducer reducer(comm, model, 200 * 4.0 / (1 << 20), {}, zero);  // buckets as above
  reducer.start_gather(model.flat_values());
  const std::vector<int64_t> low = {16 + 48 + 128 + 16}, high = {64 + 4 + 60 + 256};
  EXPECT_EQ(comm.gathers, (std::vector<int64_t>{low[0], high[0]}));
  EXPECT_TRUE(comm.gathered.empty());
  ModelStash stash;
  model.forward(test::random_tensor({2, 8}, 1), stash, {});
  EXPECT_EQ(seen_by_layer_1, 1u);  // layer 0's bucket only
  EXPECT_EQ(comm.gathered, (std::vector<int64_t>{low[0], high[0]}));
  // A reader outside forward waits for everything first.
  reducer.start_gather(model.flat_values());
  model.wait_for_weights();
  EXPECT_EQ(comm.gathered.size(), 4u);
}

}  // namespace
}  // namespace trainer
