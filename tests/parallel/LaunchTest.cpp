// `mpirun -np N trainer cfg.yaml` as a user runs it: a config that does not fit the job is
// refused by every rank before the first collective, with one message and exit code 2; a good
// one trains and matches the one-process run's loss.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_support.h"

namespace trainer {
namespace {

const char* kConfig = R"(run: {name: l, seed: 2}
data:
  train: {type: synthetic, samples: 256, shape: [8], classes: 3}
  batch_size: 32
model: {layers: [{type: linear, out_features: 16}, {type: relu}, {type: linear, out_features: 3}]}
train: {max_steps: 6}
log: {every_steps: 1}
)";

test::CommandResult mpirun(int ranks, const std::string& args, const std::string& env = "") {
  return test::run_command(
      env +
      " OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 "
      "timeout 60 mpirun --oversubscribe -np " +
      std::to_string(ranks) + " " + TRAINER_BINARY + " " + args +
      (env.empty() ? "" : " --fault-injection"));
}

class LaunchTest : public ::testing::Test {
 protected:
  void SetUp() override { test::write_file(dir_.file("cfg.yaml"), kConfig); }
  std::string cfg() const {
    return dir_.file("cfg.yaml") + " --set run.out_dir=" + dir_.file("out");
  }
  test::TempDir dir_;
};

TEST_F(LaunchTest, BadConfigIsOneMessageAndExitCode2) {
  const test::CommandResult r = mpirun(4, cfg() + " --set optimizer.lr=-1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(test::count_of(r.output, "error:"), 1u) << r.output;
  EXPECT_NE(
      r.output.find(
          "error: rank 0: --set optimizer.lr=-1: optimizer.lr: expected a number > 0, got '-1'"),
      std::string::npos)
      << r.output;
}

TEST_F(LaunchTest, LayoutsThatDoNotFitTheWorld) {
  const test::CommandResult data = mpirun(2, cfg() + " --set parallel.data=3");
  EXPECT_EQ(data.exit_code, 2) << data.output;
  EXPECT_NE(data.output.find("parallel.data: 3 data-parallel x 1 pipeline ranks need 3 ranks, the "
                             "job has 2; use auto"),
            std::string::npos)
      << data.output;
  const test::CommandResult batch = mpirun(4, cfg() + " --set data.batch_size=30");
  EXPECT_EQ(batch.exit_code, 2) << batch.output;
  EXPECT_NE(batch.output.find("data.batch_size: 30 is not divisible by data-parallel ranks x "
                              "train.grad_accum x parallel.microbatches = 4 x 1 x 1"),
            std::string::npos)
      << batch.output;
  EXPECT_EQ(test::count_of(batch.output, "error:"), 1u) << batch.output;
}

TEST_F(LaunchTest, AMissingFileOnOneRankIsNamedByThatRank) {
  // Rank 1 of 2 is pointed at a file that does not exist, through its environment.
  test::write_file(dir_.file("wrapper.sh"),
                   "#!/bin/sh\nif [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then exec \"$@\" --set "
                   "data.train.type=idx --set data.train.images=/nonexistent.gz --set "
                   "data.train.labels=/nonexistent.gz; fi\nexec \"$@\"\n");
  const test::CommandResult r = test::run_command(
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 60 mpirun --oversubscribe "
      "-np 2 sh " +
      dir_.file("wrapper.sh") + " " + TRAINER_BINARY + " " + cfg());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(test::count_of(r.output, "error:"), 1u) << r.output;
  EXPECT_NE(r.output.find("error: rank 1: --set data.train.images=/nonexistent.gz: "
                          "data.train.images: file not found: /nonexistent.gz"),
            std::string::npos)
      << r.output;
}

TEST_F(LaunchTest, TwoRanksReportTheLossOfOneProcess) {
  const test::CommandResult two = mpirun(2, cfg());
  ASSERT_EQ(two.exit_code, 0) << two.output;
  const nlohmann::json a = nlohmann::json::parse(test::read_file(dir_.file("out/summary.json")));
  const test::CommandResult one = test::run_command(std::string(TRAINER_BINARY) + " " + cfg());
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const nlohmann::json b = nlohmann::json::parse(test::read_file(dir_.file("out/summary.json")));
  EXPECT_EQ(a["world"], 2);
  EXPECT_EQ(b["world"], 1);
  EXPECT_NEAR(a["final_loss"].get<double>(), b["final_loss"].get<double>(), 1e-6);
  // Only rank 0 prints the summary.
  EXPECT_EQ(test::count_of(two.output, "\"final_loss\""), 1u) << two.output;
}

// log.layer_times under a pipeline: each stage times its own layers, and the summary holds every
// rank's beside rank 0's (stage 0: the first linear; stage 1: the ReLU and the last linear).
TEST_F(LaunchTest, LayerTimesCoverEveryPipelineStage) {
  const test::CommandResult r =
      mpirun(2, cfg() +
                    " --set parallel.pipeline=2 --set parallel.microbatches=2 "
                    "--set log.layer_times=true");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json s = nlohmann::json::parse(test::read_file(dir_.file("out/summary.json")));
  const nlohmann::json& by_rank = s.at("layer_times_by_rank");
  ASSERT_EQ(by_rank.size(), 2u);
  EXPECT_EQ(by_rank[0], s.at("layer_times"));
  // Each rank's rows: its layers' passes (two micro-batches a step), its loss, its update.
  auto names = [](const nlohmann::json& t) {
    std::vector<std::string> out;
    for (const auto& l : t.at("layers")) {
      const std::string name = l.at("name").get<std::string>();
      out.push_back(name);
      const bool per_microbatch =
          name.rfind("forward ", 0) == 0 || name.rfind("backward ", 0) == 0 || name == "loss";
      EXPECT_EQ(l.at("calls"), per_microbatch ? 2 : 1) << l;
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(names(by_rank[0]),
            (std::vector<std::string>{"backward linear 0", "forward linear 0", "update",
                                      "weight cast", "zero gradients"}));
  EXPECT_EQ(names(by_rank[1]),
            (std::vector<std::string>{"backward linear 2", "backward relu 1", "forward linear 2",
                                      "forward relu 1", "loss", "update", "weight cast",
                                      "zero gradients"}));
}

TEST_F(LaunchTest, ARankFailingLaterTakesTheJobDownWithItsMessage) {
  // Rank 1 alone fails at step 3 (an error no other rank meets) while rank 0 waits in the
  // step's collectives: the job must end at once with rank 1's message, not hang.
  const auto t0 = std::chrono::steady_clock::now();
  const test::CommandResult r = mpirun(2, cfg(), "TRAINER_FAULT_THROW=1:3");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.exit_code, 124) << "the job hung until the timeout";
  EXPECT_LT(seconds, 30.0);
  EXPECT_NE(r.output.find("error: rank 1: internal: fault injected by TRAINER_FAULT_THROW at "
                          "step 4"),
            std::string::npos)
      << r.output;
}

TEST_F(LaunchTest, EveryRankResumesFromRank0sCheckpoint) {
  ASSERT_EQ(mpirun(2, cfg() + " --set run.out_dir=" + dir_.file("straight")).exit_code, 0);
  ASSERT_EQ(mpirun(2, cfg() + " --set train.max_steps=3").exit_code, 0);
  const test::CommandResult resumed = mpirun(2, cfg() + " --resume auto");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("at step 3"), std::string::npos) << resumed.output;
  const nlohmann::json meta =
      nlohmann::json::parse(test::read_file(dir_.file("out/checkpoints/step_00000006/meta.json")));
  EXPECT_EQ(meta["layout"], nlohmann::json({{"data", 2},
                                            {"pipeline", 1},
                                            {"stage_starts", nlohmann::json::array()},
                                            {"tensor", 1}}));
  EXPECT_EQ(test::read_file(dir_.file("straight/checkpoints/step_00000006/model.bin")),
            test::read_file(dir_.file("out/checkpoints/step_00000006/model.bin")));
}

TEST_F(LaunchTest, PipelineLayoutsThatCannotWorkAreRefusedBeforeTraining) {
  const test::CommandResult deep = mpirun(4, cfg() + " --set parallel.pipeline=4");
  EXPECT_EQ(deep.exit_code, 2) << deep.output;
  EXPECT_NE(deep.output.find("parallel.pipeline: 4 stages for a model of 3 layers; each stage "
                             "needs at least one layer"),
            std::string::npos)
      << deep.output;
  const test::CommandResult few = mpirun(2, cfg() + " --set parallel.pipeline=2");
  EXPECT_EQ(few.exit_code, 2) << few.output;
  EXPECT_NE(few.output.find("parallel.microbatches: 1 micro-batches for 2 stages: every stage "
                            "would idle most of the step; use at least 2"),
            std::string::npos)
      << few.output;
  const test::CommandResult odd = mpirun(3, cfg() + " --set parallel.pipeline=2");
  EXPECT_EQ(odd.exit_code, 2) << odd.output;
  EXPECT_NE(odd.output.find("parallel.pipeline: 2 stages do not divide the job's 3 rank(s)"),
            std::string::npos)
      << odd.output;
  const test::CommandResult split =
      mpirun(2, cfg() +
                    " --set parallel.pipeline=2 --set parallel.microbatches=2 "
                    "--set parallel.partition=[3]");
  EXPECT_EQ(split.exit_code, 2) << split.output;
  EXPECT_NE(split.output.find("parallel.partition: expected increasing layer indices between 1 "
                              "and 2, each stage with at least one layer, or auto"),
            std::string::npos)
      << split.output;
  for (const auto* r : {&deep, &few, &odd, &split})
    EXPECT_EQ(test::count_of(r->output, "error:"), 1u) << r->output;
}

// One shard per stage; a resume with the same split continues bit for bit, another is refused.
TEST_F(LaunchTest, PipelineCheckpointsResumeWithTheirLayoutOnly) {
  const std::string pipe = " --set parallel.pipeline=2 --set parallel.microbatches=2";
  ASSERT_EQ(mpirun(2, cfg() + pipe + " --set run.out_dir=" + dir_.file("straight")).exit_code, 0);
  ASSERT_EQ(mpirun(2, cfg() + pipe + " --set train.max_steps=3").exit_code, 0);
  const test::CommandResult resumed = mpirun(2, cfg() + pipe + " --resume auto");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("at step 3"), std::string::npos) << resumed.output;
  for (const char* shard : {"model-stage0.bin", "model-stage1.bin", "optimizer-stage1.bin"})
    EXPECT_EQ(test::read_file(dir_.file("straight/checkpoints/step_00000006/") + shard),
              test::read_file(dir_.file("out/checkpoints/step_00000006/") + shard))
        << shard;

  const test::CommandResult other = mpirun(2, cfg() + " --resume auto --set train.max_steps=8");
  EXPECT_EQ(other.exit_code, 2) << other.output;
  EXPECT_NE(other.output.find("step_00000006: written with layout {\"data\":1,\"pipeline\":2,"
                              "\"stage_starts\":[1],\"tensor\":1}, this run has {\"data\":2,"
                              "\"pipeline\":1,\"stage_starts\":[],\"tensor\":1}; the pipeline "
                              "split (pipeline) must match"),
            std::string::npos)
      << other.output;
}

// The losses of steps `from`..6 in a run's metrics.jsonl.
std::vector<double> losses(const std::string& out_dir, int from) {
  std::vector<double> out;
  std::istringstream lines(test::read_file(out_dir + "/metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json m = nlohmann::json::parse(line);
    if (m["step"].get<int>() >= from) out.push_back(m["loss"].get<double>());
  }
  return out;
}

// ZeRO's optimizer state is one shard file per data rank; a resume under another number of data
// ranks, another ZeRO stage (2: gradients sharded too) or without ZeRO reshards it and continues
// with the losses of one process (and a checkpoint without ZeRO resumes into shards).
TEST_F(LaunchTest, ZeroCheckpointsResumeUnderOtherDataSizes) {
  const std::string adam =
      " --set optimizer.type=adam --set optimizer.lr=0.01 --set checkpoint.every_steps=3";
  ASSERT_EQ(mpirun(1, cfg() + adam + " --set run.out_dir=" + dir_.file("one")).exit_code, 0);
  const test::CommandResult sharded =
      mpirun(2, cfg() + adam + " --set parallel.zero=1 --set train.max_steps=3 --set run.out_dir=" +
                    dir_.file("zero"));
  ASSERT_EQ(sharded.exit_code, 0) << sharded.output;
  const std::string step3 = dir_.file("zero/checkpoints/step_00000003");
  const nlohmann::json meta = nlohmann::json::parse(test::read_file(step3 + "/meta.json"));
  EXPECT_EQ(meta["layout"]["zero_shards"], 2);
  EXPECT_TRUE(meta["files"].contains("optimizer-shard1.bin")) << meta.dump();
  EXPECT_FALSE(meta["files"].contains("optimizer.bin")) << meta.dump();
  const std::vector<double> expected = losses(dir_.file("one"), 4);
  ASSERT_EQ(expected.size(), 3u);
  // And the one process's own checkpoint (state by parameter) into ZeRO shards.
  const std::string unsharded = dir_.file("one/checkpoints/step_00000003");
  struct Resume {
    int ranks, zero;
    std::string from;
  };
  for (const Resume& c : std::vector<Resume>{
           {1, 0, step3}, {4, 1, step3}, {4, 2, step3}, {2, 0, step3}, {2, 1, unsharded}}) {
    const std::string out = dir_.file("resumed-" + std::to_string(c.ranks) + "-" +
                                      std::to_string(c.zero) + (c.from == step3 ? "" : "-full"));
    const test::CommandResult r =
        mpirun(c.ranks, cfg() + adam + " --set parallel.zero=" + std::to_string(c.zero) +
                            " --set run.out_dir=" + out + " --resume " + c.from);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::vector<double> got = losses(out, 4);
    ASSERT_EQ(got.size(), expected.size()) << out;
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], expected[i], 1e-6 * std::fabs(expected[i])) << out << " step " << i + 4;
  }
}

// bf16 under ZeRO shards the f32 master values too: a checkpoint gathers them whole, and a run
// resumed from it continues exactly as the uninterrupted run did, under ZeRO 1 and under 2.
TEST_F(LaunchTest, MixedPrecisionZeroCheckpointsHoldTheWholeMasterValues) {
  const std::string bf16 =
      " --set precision.compute=bf16 --set optimizer.type=adam --set optimizer.lr=0.01"
      " --set checkpoint.every_steps=3";
  for (const std::string zero : {"1", "2"}) {
    const std::string set = bf16 + " --set parallel.zero=" + zero;
    const std::string whole = dir_.file("whole" + zero), resumed = dir_.file("resumed" + zero);
    ASSERT_EQ(mpirun(2, cfg() + set + " --set run.out_dir=" + whole).exit_code, 0);
    const test::CommandResult r =
        mpirun(2, cfg() + set + " --set run.out_dir=" + resumed + " --resume " + whole +
                      "/checkpoints/step_00000003");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::vector<double> expected = losses(whole, 4), got = losses(resumed, 4);
    ASSERT_EQ(expected.size(), 3u);
    EXPECT_EQ(got, expected) << "ZeRO " << zero;
  }
}

}  // namespace
}  // namespace trainer
