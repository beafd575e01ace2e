// Run under mpirun -np 2 and -np 4 (see tests/CMakeLists.txt): the model split into pipeline
// stages (and, with 4 ranks and 2 stages, 2 data-parallel replicas of them) trains to the
// weights of the whole model trained in one process, under every schedule.
//
// Tolerance: as in DataParallelTest. The stages compute exactly what one process computes for
// each micro-batch; what differs is the order gradients are summed in (per micro-batch, then
// over micro-batches and replicas), a few float ulps per gradient, well under 1e-5 after 10 Adam
// steps, while a micro-batch lost, doubled or sent to the wrong stage moves weights by ~1e-3.
#include <gtest/gtest.h>

#include <tuple>

#include "launcher/config.h"
#include "launcher/run_setup.h"
#include "launcher/training.h"
#include "parallel/mpi_communicator.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

class PipelineTest : public ::testing::TestWithParam<std::tuple<int, const char*>> {};

TEST_P(PipelineTest, StagesTrainToTheWeightsOfTheWholeModel) {
  const auto [pipeline, schedule] = GetParam();
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const int rank = world->rank(), size = world->size();
  if (size % pipeline != 0) GTEST_SKIP() << pipeline << " stages need a multiple of their ranks";
  const std::string dir = test::shared_temp_dir(*world);
  if (rank == 0) test::write_file(dir + "/cfg.yaml", test::kSmallConvNet);
  world->barrier();
  FILE* sink = std::fopen("/dev/null", "w");

  std::vector<std::string> overrides = {
      "parallel.pipeline=" + std::to_string(pipeline), "parallel.microbatches=4",
      std::string("parallel.schedule=") + schedule, "train.clip_grad_norm=0.5",
      "run.out_dir=" + dir + "/pipelined"};
  // 2 chunks per stage: 4 or 8 pieces of the 8 layers, the data and the loss on other ranks'
  // chunks than under the other schedules.
  if (std::string(schedule) == "interleaved") overrides.push_back("parallel.virtual_stages=2");
  Config cfg = load_config(dir + "/cfg.yaml", overrides, size);
  RunSetup run = build_run(std::move(cfg), rank % pipeline);
  ProcessGrid grid = ProcessGrid::split(std::move(world), pipeline);
  const nlohmann::json summary = train(run, 0, sink, std::chrono::steady_clock::now(), &grid);

  // Clipping by the norm of the whole model: every stage's share of it must be counted.
  RunSetup whole = build_run(load_config(
      dir + "/cfg.yaml",
      {"run.out_dir=" + dir + "/whole-" + std::to_string(rank), "train.clip_grad_norm=0.5"}, 1));
  const nlohmann::json reference = train(whole, 0, sink);
  std::fclose(sink);

  const auto mine = test::parameters_by_name(*run.model);
  const auto all = test::parameters_by_name(*whole.model);
  // Each stage holds only its own layers' parameters, and the stages together hold them all.
  int64_t held = static_cast<int64_t>(mine.size());
  grid.pipeline->all_reduce(&held, 1, ReduceOp::Sum);
  EXPECT_EQ(held, static_cast<int64_t>(all.size()));
  for (const auto& [name, values] : mine) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(all.count(name));
    test::expect_close(values, all.at(name));
  }
  // The loss and accuracy every rank reports are the whole batch's and test set's.
  EXPECT_NEAR(summary["final_loss"].get<double>(), reference["final_loss"].get<double>(), 1e-5);
  EXPECT_EQ(summary["test_accuracy"], reference["test_accuracy"]);
  EXPECT_EQ(summary["layout"]["pipeline"], pipeline);
  EXPECT_EQ(summary["layout"]["data"], size / pipeline);
}

INSTANTIATE_TEST_SUITE_P(Layouts, PipelineTest,
                         ::testing::Combine(::testing::Values(2, 4),
                                            ::testing::Values("gpipe", "1f1b", "interleaved",
                                                              "zb-h1")),
                         [](const auto& info) {
                           std::string name = std::get<1>(info.param);
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return "P" + std::to_string(std::get<0>(info.param)) + "_" + name;
                         });

}  // namespace
}  // namespace trainer
