// Run under mpirun -np 2 and -np 4 (see tests/CMakeLists.txt): the small GPT trained under data
// parallelism, a pipeline, and (4 ranks) both, with activation recompute off and on and ZeRO 0,
// 1 and 2, ends at the weights of one process; and the output head's copy of the token embedding on
// the last stage stays bit for bit equal to the first stage's.
//
// Tolerance: as in DataParallelTest (1e-5 absolute + 1e-4 relative after the steps): the layouts
// sum the same gradients in another order; a lost micro-batch, shard or tied-gradient half moves
// weights by ~1e-3 from the first step. One thing needs care: the attention's key bias has a zero
// gradient in exact arithmetic (softmax ignores a score shift shared by a row), so its gradient
// is rounding noise (~1e-10) that differs between layouts, and Adam divides it by its own size:
// with eps 1e-8 that moves those weights by ~1e-4 per step in any direction. The test's Adam has
// eps 1e-4, which bounds that to 1e-7 a step and leaves the real gradients (~1e-3) normalised.
#include <gtest/gtest.h>

#include <cstring>
#include <tuple>

#include "launcher/config.h"
#include "launcher/run_setup.h"
#include "launcher/training.h"
#include "parallel/mpi_communicator.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

struct Trained {
  RunSetup run;
  ProcessGrid grid;
};

// Trains the small GPT under `overrides` on every rank of the world (pipeline stages of
// consecutive ranks, as ProcessGrid::split makes them).
Trained train_layout(const std::string& dir, int pipeline, std::vector<std::string> overrides) {
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const int rank = world->rank(), size = world->size();
  overrides.push_back("optimizer.eps=1e-4");
  overrides.push_back("parallel.pipeline=" + std::to_string(pipeline));
  overrides.push_back("parallel.microbatches=" + std::to_string(pipeline > 1 ? 2 : 1));
  const GridPlace place = place_of(rank, pipeline);
  Trained t{build_run(load_config(dir + "/cfg.yaml", overrides, size), place.stage,
                      BuildFor::Training, place.data_rank),
            {}};
  t.grid = ProcessGrid::split(std::move(world), pipeline);
  FILE* sink = std::fopen("/dev/null", "w");
  train(t.run, 0, sink, std::chrono::steady_clock::now(), &t.grid);
  std::fclose(sink);
  return t;
}

// The reference: one process, the whole batch, recompute off, 8 steps. The stages together hold
// every parameter once (the tied copy aside), each at the reference's value.
void expect_weights_of_one_process(Trained& t, const std::string& dir) {
  RunSetup whole = build_run(
      load_config(dir + "/cfg.yaml",
                  {"train.max_steps=8", "optimizer.eps=1e-4",
                   "run.out_dir=" + dir + "/whole-" + std::to_string(t.grid.world->rank())},
                  1));
  FILE* sink = std::fopen("/dev/null", "w");
  train(whole, 0, sink);
  std::fclose(sink);

  const auto mine = test::parameters_by_name(*t.run.model);
  const auto all = test::parameters_by_name(*whole.model);
  int64_t held = static_cast<int64_t>(mine.size() - t.run.shared.size());
  for (const SharedParam& s : t.run.shared) held += s.counted_here;
  t.grid.pipeline->all_reduce(&held, 1, ReduceOp::Sum);
  EXPECT_EQ(held, static_cast<int64_t>(all.size()));
  for (const auto& [name, values] : mine) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(all.count(name));
    test::expect_close(values, all.at(name));
  }
}

class GptLayoutTest : public ::testing::TestWithParam<std::tuple<int, const char*, int>> {};

TEST_P(GptLayoutTest, TrainsToTheWeightsOfOneProcess) {
  const auto [pipeline, recompute, zero] = GetParam();
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const int size = world->size();
  if (size % pipeline != 0) GTEST_SKIP() << pipeline << " stages need a multiple of their ranks";
  const std::string dir = test::write_small_gpt(*world);
  world.reset();
  const std::string layout =
      "p" + std::to_string(pipeline) + "-" + recompute + "-zero" + std::to_string(zero);
  Trained t =
      train_layout(dir, pipeline,
                   {"train.max_steps=8", std::string("train.recompute=") + recompute,
                    "parallel.zero=" + std::to_string(zero), "run.out_dir=" + dir + "/" + layout});
  // ZeRO: the optimizer holds the state of this rank's range only; under stage 2 the rank holds
  // no other gradients than its range's (and the tied copy's, with a pipeline).
  if (zero && t.grid.data_size > 1) {
    const int64_t share = t.run.model->flat_values().numel() / t.grid.data_size + 64;
    EXPECT_LT(t.run.optimizer->flat_state().at(0).second.numel(), share);
    EXPECT_EQ(t.run.model->flat_grads().defined(), zero == 1);
    EXPECT_LT(t.run.zero.grads.numel(), share);
  }
  EXPECT_EQ(t.grid.data_size, size / pipeline);
  expect_weights_of_one_process(t, dir);
}

INSTANTIATE_TEST_SUITE_P(Layouts, GptLayoutTest,
                         ::testing::Combine(::testing::Values(1, 2),
                                            ::testing::Values("none", "blocks"),
                                            ::testing::Values(0, 1, 2)),
                         [](const auto& info) {
                           return "P" + std::to_string(std::get<0>(info.param)) + "_recompute_" +
                                  std::get<1>(info.param) + "_zero" +
                                  std::to_string(std::get<2>(info.param));
                         });

// Every schedule on 2 stages (and 2 replicas of them with 4 ranks, ZeRO 1, recompute on): the
// interleaved one with 2 chunks per stage (the embedding's and the head's chunks on different
// stages, the tied gradient summed across them), zb-h1 with its weight gradients deferred, and
// 1F1B with look-ahead off.
class GptScheduleTest : public ::testing::TestWithParam<const char*> {};

TEST_P(GptScheduleTest, TrainsToTheWeightsOfOneProcess) {
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const std::string dir = test::write_small_gpt(*world);
  world.reset();
  const std::string schedule = GetParam();
  std::vector<std::string> overrides = {"train.max_steps=8", "train.recompute=blocks",
                                        "parallel.zero=1", "run.out_dir=" + dir + "/" + schedule};
  if (schedule == "1f1b-no-lookahead")
    overrides.push_back("parallel.lookahead=false");
  else
    overrides.push_back("parallel.schedule=" + schedule);
  if (schedule == "interleaved") overrides.push_back("parallel.virtual_stages=2");
  Trained t = train_layout(dir, 2, overrides);
  EXPECT_EQ(t.run.model->chunks(), schedule == "interleaved" ? 2 : 1);
  expect_weights_of_one_process(t, dir);
}

INSTANTIATE_TEST_SUITE_P(Schedules, GptScheduleTest,
                         ::testing::Values("gpipe", "interleaved", "zb-h1", "1f1b-no-lookahead"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

// Gradient accumulation, and bf16 compute with ZeRO (the f32 master values sharded too), under
// data x pipeline (4 ranks) or data (2), against one process with the same settings, at the
// same tolerance: bf16 rounds the same activations in both runs, and the f32 gradients differ in
// summation order only (measured: at most 7.1e-7 after 8 steps).
TEST(GptLayoutTest, AccumulationAndBf16MatchOneProcess) {
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const int rank = world->rank(), size = world->size();
  const std::string dir = test::write_small_gpt(*world);
  world.reset();
  const int pipeline = size >= 4 ? 2 : 1;
  for (const std::vector<std::string>& config :
       {std::vector<std::string>{"train.grad_accum=2"},
        std::vector<std::string>{"precision.compute=bf16", "parallel.zero=1"},
        std::vector<std::string>{"parallel.zero=2", "train.grad_accum=2"}}) {
    SCOPED_TRACE(config.front() + " " + config.back());
    std::vector<std::string> settings = config;
    settings.push_back("train.max_steps=8");
    settings.push_back("data.batch_size=8");  // 2 data ranks x 2 rounds or micro-batches x 2
    std::vector<std::string> layout = settings;
    layout.push_back("run.out_dir=" + dir + "/" + config.front() + config.back());
    Trained t = train_layout(dir, pipeline, layout);
    // bf16 under ZeRO: each rank kept the f32 master values of its range only, and has the
    // whole values back now that training is over.
    const bool bf16 = config.front() == "precision.compute=bf16";
    EXPECT_EQ(t.run.zero.master.defined(), bf16);
    if (bf16) {
      EXPECT_LT(t.run.zero.master.numel(),
                t.run.model->flat_values().numel() / t.grid.data_size + 64);
      EXPECT_FALSE(t.run.model->values_released());
    }
    settings.push_back("optimizer.eps=1e-4");
    settings.push_back("run.out_dir=" + dir + "/one-" + config.front() + config.back() +
                       std::to_string(rank));
    RunSetup whole = build_run(load_config(dir + "/cfg.yaml", settings, 1));
    FILE* sink = std::fopen("/dev/null", "w");
    train(whole, 0, sink);
    std::fclose(sink);
    const auto all = test::parameters_by_name(*whole.model);
    for (const auto& [name, values] : test::parameters_by_name(*t.run.model)) {
      SCOPED_TRACE(name);
      test::expect_close(values, all.at(name));
    }
  }
}

// After every step (runs of 1 to 6 steps from the same start), the last stage's copy of the
// tied embedding equals the first stage's bit for bit; with 4 ranks (data 2) under ZeRO 0, 1 and
// 2, where each stage's data ranks update their own ranges of it.
TEST(GptPipelineTest, TiedEmbeddingCopiesAreEqualAfterEveryStep) {
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const std::string dir = test::write_small_gpt(*world);
  world.reset();
  for (int zero : {0, 1, 2})
    for (int steps = 1; steps <= 6; ++steps) {
      SCOPED_TRACE("zero " + std::to_string(zero) + ", after step " + std::to_string(steps));
      Trained t = train_layout(
          dir, 2,
          {"train.max_steps=" + std::to_string(steps), "parallel.zero=" + std::to_string(zero),
           "run.out_dir=" + dir + "/tied-" + std::to_string(zero) + "-" + std::to_string(steps)});
      ASSERT_EQ(t.run.shared.size(), 1u);
      const SharedParam& s = t.run.shared[0];
      EXPECT_EQ(s.param->name, "0.embedding.wte");
      const Tensor mine = s.param->value.to(Device::cpu());
      Tensor theirs = Tensor::empty(mine.shape());
      std::unique_ptr<Work> sent = t.grid.pipeline->send_async(
          mine.raw(), static_cast<int64_t>(mine.bytes()), s.peer_stage, 7);
      t.grid.pipeline->recv(theirs.raw(), static_cast<int64_t>(theirs.bytes()), s.peer_stage, 7);
      sent->wait();
      EXPECT_EQ(std::memcmp(mine.raw(), theirs.raw(), mine.bytes()), 0);
      // The copies moved: the comparison is not of two untouched initialisations.
      EXPECT_GT(t.run.optimizer->steps_taken(), 0);
    }
}

}  // namespace
}  // namespace trainer
