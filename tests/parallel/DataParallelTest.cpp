// Run under mpirun (see tests/CMakeLists.txt): every rank trains its shard with the data-parallel
// reducer, and also trains the whole global batch alone as the reference; the two must agree.
//
// Tolerance: the ranks sum their shards' gradients in another order than one process sums the
// whole batch, a relative difference of a few float ulps (~1e-7) per gradient. Over 10 Adam
// steps of lr 0.01 that moves weights by well under 1e-5 (measured: about 1e-7); 1e-5 absolute
// + 1e-4 relative leaves room for that and none for a missing or double-counted shard, which
// changes weights by ~1e-3 from the first step.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>

#include "launcher/config.h"
#include "launcher/run_setup.h"
#include "launcher/training.h"
#include "parallel/mpi_communicator.h"
#include "parallel/replica_check.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

struct Runs {
  std::vector<float> parallel, reference;
  int data_size = 0;
  nlohmann::json summary;
};

Runs train_both(const std::vector<std::string>& extra) {
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const int rank = world->rank(), size = world->size();
  const std::string dir = test::shared_temp_dir(*world);
  if (rank == 0) test::write_file(dir + "/cfg.yaml", test::kSmallConvNet);
  world->barrier();
  std::vector<std::string> overrides = extra;
  overrides.push_back("run.out_dir=" + dir + "/parallel");
  FILE* sink = std::fopen("/dev/null", "w");
  Runs out;
  RunSetup parallel = build_run(load_config(dir + "/cfg.yaml", overrides, size));
  ProcessGrid grid = ProcessGrid::split(std::move(world), 1);
  out.data_size = grid.data_size;
  out.summary = train(parallel, 0, sink, std::chrono::steady_clock::now(), &grid);
  out.parallel = test::parameter_values(*parallel.model);
  // The reference: one process, the same global batch, grad_accum 1.
  overrides = {"run.out_dir=" + dir + "/reference-" + std::to_string(rank), "train.grad_accum=1"};
  RunSetup reference = build_run(load_config(dir + "/cfg.yaml", overrides, 1));
  train(reference, 0, sink);
  out.reference = test::parameter_values(*reference.model);
  std::fclose(sink);
  return out;
}

TEST(DataParallelTest, RanksTogetherEqualOneProcessWithTheWholeBatch) {
  const Runs r = train_both({});
  EXPECT_GT(r.data_size, 1);
  test::expect_close(r.parallel, r.reference);
  EXPECT_EQ(r.summary["world"], r.data_size);
}

TEST(DataParallelTest, GradientAccumulationCommunicatesOnceAndStillMatches) {
  const Runs r = train_both({"train.grad_accum=2"});
  test::expect_close(r.parallel, r.reference);
}

// The timeline is the evidence of overlap, so it must be right: every bucket's all-reduce starts
// only after backward has produced its gradients (the end of its first layer's backward span)
// and completes before the optimizer uses them, and every bucket appears in every step.
TEST(DataParallelTest, TimelineOrdersEachBucketBetweenItsGradientsAndTheOptimizer) {
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const std::string dir = test::shared_temp_dir(*world);
  if (world->rank() == 0) test::write_file(dir + "/cfg.yaml", test::kSmallConvNet);
  world->barrier();
  const int rank = world->rank();
  RunSetup run = build_run(load_config(
      dir + "/cfg.yaml", {"log.trace=true", "run.out_dir=" + dir + "/traced"}, world->size()));
  ProcessGrid grid = ProcessGrid::split(std::move(world), 1);
  FILE* sink = std::fopen("/dev/null", "w");
  train(run, 0, sink, std::chrono::steady_clock::now(), &grid);
  std::fclose(sink);

  std::ifstream in(dir + "/traced/trace/rank" + std::to_string(rank) + ".json");
  ASSERT_TRUE(in) << "no trace file for rank " << rank;
  const nlohmann::json events = nlohmann::json::parse(in)["traceEvents"];
  struct Step {
    std::map<int64_t, double> backward_end;  // by layer index
    std::vector<nlohmann::json> buckets;
    double optimizer_begin = 0.0;
  };
  std::vector<Step> steps(1);
  for (const nlohmann::json& e : events) {  // recorded in order within a step, span ends first
    if (e["ph"] != "X") continue;
    const std::string name = e["name"];
    const double begin = e["ts"], end = begin + e["dur"].get<double>();
    if (name.rfind("backward ", 0) == 0)
      steps.back().backward_end[std::stoll(name.substr(9))] = end;
    else if (name.rfind("all-reduce bucket", 0) == 0)
      steps.back().buckets.push_back(e);
    else if (name == "optimizer step")
      steps.back().optimizer_begin = begin;
    else if (name.rfind("step ", 0) == 0)
      steps.emplace_back();
  }
  steps.pop_back();  // the empty one after the last step
  ASSERT_EQ(steps.size(), 10u);
  for (const Step& s : steps) {
    EXPECT_GE(s.buckets.size(), 2u);
    EXPECT_EQ(s.buckets.size(), steps[0].buckets.size());
    for (const nlohmann::json& b : s.buckets) {
      const double begin = b["ts"], end = begin + b["dur"].get<double>();
      const int64_t layer = b["args"]["first_layer"];
      ASSERT_TRUE(s.backward_end.count(layer)) << b.dump();
      EXPECT_GE(begin, s.backward_end.at(layer)) << b.dump();
      EXPECT_LE(end, s.optimizer_begin) << b.dump();
    }
  }
}

TEST(DataParallelTest, ReplicaCheckCatchesAPerturbedReplica) {
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const std::string dir = test::shared_temp_dir(*world);
  if (world->rank() == 0) test::write_file(dir + "/cfg.yaml", test::kSmallConvNet);
  world->barrier();
  RunSetup run = build_run(load_config(dir + "/cfg.yaml", {}, world->size()));
  EXPECT_NO_THROW(check_replicas(*world, *run.model, 0));
  if (world->rank() == 1) run.model->params()[0]->value.f32()[3] += 1e-6f;
  try {
    check_replicas(*world, *run.model, 42);
    FAIL() << "no error";
  } catch (const ReplicaMismatch& e) {
    EXPECT_EQ(std::string(e.what()),
              "replica check at step 42: data-parallel ranks 0 and 1 hold different weights; "
              "stopping, since the results would be wrong");
  }
}

}  // namespace
}  // namespace trainer
