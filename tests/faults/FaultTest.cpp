// The fault suite (CTest label `faults`): the trainer program run as a user runs it, alone and
// under mpirun, against bad input, lost and stalled ranks, signals, a full disk, corrupt
// checkpoints and non-finite losses. Each test checks the exit code, the message, and what is on
// disk afterwards.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "tests/faults/fault_support.h"

namespace trainer {
namespace {

namespace fs = std::filesystem;
using test::be32;
using test::kConfig;
using test::kEnv;
using test::kTrainer;
using test::losses;
using test::metric;
using test::run;
using test::snapshot;
using FaultTest = test::FaultFixture;

// ---- Bad input: one message naming the file:line or key, exit 2, quickly, on 1 and 4 ranks,
// and an existing checkpoint untouched.

struct BadInput {
  const char* name;
  std::string args;      // after the config path
  std::string expected;  // in the one error line
};

TEST_F(FaultTest, BadInputIsOneMessageExitCode2AndTouchesNoCheckpoint) {
  ASSERT_EQ(run(1, cfg()).exit_code, 0);
  const auto before = snapshot(checkpoints());
  ASSERT_FALSE(before.empty());

  const std::string data = dir_.path() + "/";
  test::write_file(data + "broken.yaml", "run: {name: x\nmodel: [\n");
  test::write_file(data + "unknown.yaml", std::string(kConfig) + "optimiser: {lr: 1}\n");
  test::write_file(data + "twice.yaml", std::string(kConfig) + "loss: mse\nloss: mse\n");
  test::write_file(data + "labels", be32(0x801) + be32(4) + std::string(4, '\1'));
  test::write_file(data + "truncated", be32(0x803) + be32(4) + be32(4) + be32(4) + "short");
  test::write_file(data + "magic", be32(0x1234) + be32(4) + be32(4) + be32(4));
  std::string nan_images = be32(0xD03) + be32(4) + be32(4) + be32(4);
  for (int i = 0; i < 64; ++i) {
    const float v = i == 21 ? std::nanf("") : 0.5f;
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    nan_images += be32(bits);
  }
  test::write_file(data + "nan", nan_images);
  // The IDX cases: a config that reads 4 images of 4x4 from the file its name gives.
  auto idx = [&](const std::string& images) {
    const std::string path = data + "idx-" + fs::path(images).filename().string() + ".yaml";
    test::write_file(path, "data:\n  train: {type: idx, images: " + images + ", labels: " + data +
                               "labels}\n  batch_size: 4\nmodel: {layers: [{type: flatten}, "
                               "{type: linear, out_features: 2}]}\n");
    return path + " --set run.out_dir=" + dir_.file("out");
  };
  const std::string out = " --set run.out_dir=" + dir_.file("out");

  const std::vector<BadInput> cases = {
      {"malformed YAML", data + "broken.yaml" + out, data + "broken.yaml:2: invalid YAML"},
      {"unknown key", data + "unknown.yaml" + out,
       data + "unknown.yaml:14: optimiser: unknown key; expected one of: checkpoint, data"},
      {"duplicate key", data + "twice.yaml" + out,
       data + "twice.yaml:15: loss: duplicate key (first given at line 14)"},
      {"wrong type", cfg() + " --set data.batch_size=many",
       "data.batch_size: expected an integer >= 1, got 'many'"},
      {"negative learning rate", cfg() + " --set optimizer.lr=-0.1",
       "optimizer.lr: expected a number > 0, got '-0.1'"},
      {"zero batch", cfg() + " --set data.batch_size=0",
       "data.batch_size: expected an integer >= 1, got '0'"},
      {"batch not divisible", cfg() + " --set data.batch_size=30 --set train.grad_accum=4",
       "data.batch_size: 30 is not divisible by data-parallel ranks x train.grad_accum"},
      {"world not divisible by the layout", cfg() + " --set parallel.data=3",
       "parallel.data: 3 data-parallel x 1 pipeline ranks need 3 ranks"},
      // 3 layers: 4 stages are refused under 4 ranks for the layer count, alone for the world.
      {"pipeline longer than the model", cfg() + " --set parallel.pipeline=4",
       "parallel.pipeline: 4 stages"},
      {"missing data file", idx(data + "absent"),
       "data.train.images: file not found: " + data + "absent"},
      {"truncated data file", idx(data + "truncated"), data + "truncated: truncated"},
      {"wrong magic", idx(data + "magic"), data + "magic: wrong magic number 0x00001234"},
      {"NaN in the data", idx(data + "nan"),
       data + "nan: image 1 holds NaN at row 1, column 1; inputs must be finite"},
      {"data set smaller than a batch", cfg() + " --set data.train.samples=20",
       "data.batch_size: 32 is larger than the training set (20 samples)"},
  };
  for (int ranks : {1, 4})
    for (const BadInput& c : cases) {
      SCOPED_TRACE(std::string(c.name) + ", " + std::to_string(ranks) + " rank(s)");
      const auto t0 = std::chrono::steady_clock::now();
      const test::CommandResult r = run(ranks, c.args);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      EXPECT_EQ(r.exit_code, 2) << r.output;
      EXPECT_EQ(test::count_of(r.output, "error:"), 1u) << r.output;
      EXPECT_NE(r.output.find(c.expected), std::string::npos) << r.output;
      EXPECT_LT(s, 20.0);
      EXPECT_EQ(snapshot(checkpoints()), before) << "a checkpoint was touched";
    }
}

// ---- Lost and stalled ranks: the job ends within the collective timeout, never hangs.

TEST_F(FaultTest, ARankKilledMidStepEndsTheJobNamingIt) {
  const auto t0 = std::chrono::steady_clock::now();
  const test::CommandResult r = run(4,
                                    cfg() +
                                        " --set parallel.timeout_s=10 --set "
                                        "train.max_steps=200 --set checkpoint.every_steps=0",
                                    "TRAINER_FAULT_KILL=1:5");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.exit_code, 124) << "the job hung until the time limit";
  EXPECT_LT(s, 30.0);
  // Open MPI's launcher ends the job as soon as a rank dies and names it.
  EXPECT_NE(r.output.find("process rank 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("signal 9"), std::string::npos) << r.output;
}

TEST_F(FaultTest, AStalledRankIsCaughtByTheCollectiveTimeout) {
  struct Case {
    std::string layout, expected;
  };
  // In a collective the waiting rank cannot know who is missing; a pipeline stage waits on one.
  for (const Case& c : {Case{"",
                             "error: rank 0: all_reduce did not complete within 2 s "
                             "(parallel.timeout_s): another rank is lost or stalled"},
                        Case{" --set parallel.pipeline=2 --set parallel.microbatches=2",
                             "error: rank 0: recv from rank 1 did not complete within 2 s "
                             "(parallel.timeout_s): rank 1 is lost or stalled"}}) {
    SCOPED_TRACE(c.layout);
    const auto t0 = std::chrono::steady_clock::now();
    const test::CommandResult r =
        run(2, cfg() + " --set parallel.timeout_s=2" + c.layout, "TRAINER_FAULT_STALL=1:3");
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.exit_code, 124) << "the job hung until the time limit";
    EXPECT_LT(s, 30.0);
    EXPECT_NE(r.output.find(c.expected), std::string::npos) << r.output;
  }
}

// ---- SIGTERM/SIGINT: a checkpoint at the next step boundary, a clean exit, and a resume that
// continues the run exactly.

// Starts a long run in the background, sends `signal` to its ranks once its metrics show step
// 20, and waits for its exit code ("exit=N" at the end of the output). Under mpirun the ranks
// are signalled, as Slurm signals every task on preemption or at the time limit: Open MPI's
// mpirun does not forward SIGTERM or SIGINT, it ends the job itself.
test::CommandResult signalled_run(int ranks, const std::string& args, const std::string& signal,
                                  const std::string& run_dir) {
  const std::string launcher =
      ranks == 1 ? "" : "mpirun --oversubscribe -np " + std::to_string(ranks) + " ";
  // The child of timeout is the trainer, or mpirun, whose children are the ranks.
  const std::string ranks_of_pid = ranks == 1 ? "$pid" : "$(pgrep -P $pid)";
  const std::string script = std::string(kEnv) + "timeout 120 " + launcher + kTrainer + " " + args +
                             " & pid=$!\n" + "for i in $(seq 600); do grep -q '\"step\":20,' " +
                             run_dir + "/metrics.jsonl 2>/dev/null && break; sleep 0.05; done\n" +
                             "pkill -" + signal + " -P " + ranks_of_pid +
                             "\nwait $pid; echo exit=$?\n";
  test::write_file(run_dir + ".sh", script);
  return test::run_command("bash " + run_dir + ".sh");
}

int exit_of(const test::CommandResult& r) {
  const size_t at = r.output.rfind("exit=");
  return at == std::string::npos ? -1 : std::stoi(r.output.substr(at + 5));
}

TEST_F(FaultTest, SigtermCheckpointsAtTheNextStepAndTheResumeContinuesExactly) {
  // Long enough for the signal to land mid-run (a step takes tens of microseconds).
  const std::string longer = " --set train.max_steps=20000 --set checkpoint.every_steps=0";
  ASSERT_EQ(run(1, cfg("straight") + longer).exit_code, 0);
  const test::CommandResult r = signalled_run(1, cfg() + longer, "TERM", dir_.file("out"));
  ASSERT_EQ(exit_of(r), 143) << r.output;  // 128 + SIGTERM
  EXPECT_NE(r.output.find("SIGTERM: stopped after step "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("; continue with --resume auto"), std::string::npos) << r.output;
  EXPECT_EQ(test::count_of(r.output, "error:"), 0u) << r.output;
  const std::string latest = test::read_file(checkpoints() + "/latest");
  const int stopped = std::stoi(latest.substr(5));
  ASSERT_GE(stopped, 20);
  ASSERT_LT(stopped, 20000) << "the run ended before the signal; make it longer";

  const test::CommandResult resumed = run(1, cfg() + longer + " --resume auto");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  const auto straight = losses(dir_.file("straight")), continued = losses(dir_.file("out"));
  for (int step = stopped + 1; step <= 20000; ++step)
    ASSERT_EQ(continued.at(step), straight.at(step)) << "step " << step;  // bit-identical
}

TEST_F(FaultTest, SigtermUnderMpirunCheckpointsOnEveryRankTogether) {
  const test::CommandResult r =
      signalled_run(2, cfg() + " --set train.max_steps=100000 --set checkpoint.every_steps=0",
                    "TERM", dir_.file("out"));
  EXPECT_NE(exit_of(r), 0) << r.output;
  EXPECT_NE(r.output.find("SIGTERM: stopped after step "), std::string::npos) << r.output;
  const std::string latest = test::read_file(checkpoints() + "/latest");
  EXPECT_TRUE(fs::exists(checkpoints() + "/" + latest.substr(0, latest.size() - 1) + "/meta.json"));
  EXPECT_EQ(run(2, cfg() + " --set train.max_steps=100000 --resume auto --dry-run").exit_code, 0);
}

// ---- Writes that fail, checkpoints that rot.

TEST_F(FaultTest, AFullDiskFailsTheSaveAndKeepsThePreviousCheckpoint) {
  const std::string wide = " --set model.layers[0].out_features=512";  // a 43 KB model file
  ASSERT_EQ(run(1, cfg() + wide + " --set train.max_steps=4").exit_code, 0);
  const auto before = snapshot(checkpoints());
  // The ranks may not grow a file past 4 KiB (ulimit -f counts 1 KiB blocks), set inside each
  // rank as mpirun needs larger files, and with MPI over TCP as shared memory does too: the model
  // file is larger, so its write fails as on a full disk (EFBIG rather than ENOSPC).
  const std::string limited = dir_.file("limited-trainer");
  test::write_file(limited, "#!/bin/bash\nulimit -f 4\nexec " + kTrainer + " \"$@\"\n");
  fs::permissions(limited, fs::perms::owner_all);
  for (int ranks : {1, 2}) {
    SCOPED_TRACE(std::to_string(ranks) + " rank(s)");
    const test::CommandResult r = test::run_command(
        std::string(kEnv) + "timeout 60 " +
        (ranks == 1 ? std::string() : "mpirun --oversubscribe --mca btl self,tcp -np 2 ") +
        limited + " " + cfg() + wide + " --set train.max_steps=8 --resume auto");
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("checkpoint of step 8 not written: cannot write "), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("File too large; the previous checkpoint is kept"), std::string::npos)
        << r.output;
    EXPECT_EQ(test::count_of(r.output, "error:"), 1u) << r.output;
    EXPECT_EQ(snapshot(checkpoints()), before) << "the previous checkpoint or latest changed";
  }
}

TEST_F(FaultTest, ACheckpointDirectoryThatCannotBeCreatedIsNamed) {
  test::write_file(dir_.file("a-file"), "");
  const test::CommandResult r =
      run(1, cfg() + " --set checkpoint.dir=" + dir_.file("a-file") + "/checkpoints");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("error: checkpoint of step 4 not written: cannot create " +
                          dir_.file("a-file") + "/checkpoints"),
            std::string::npos)
      << r.output;
}

TEST_F(FaultTest, ACorruptOrTruncatedShardIsNamedAndResumeAutoFallsBack) {
  ASSERT_EQ(run(1, cfg() + " --set train.max_steps=8").exit_code, 0);
  const std::string newest = checkpoints() + "/step_00000008";
  {  // flip bytes inside the model file
    std::string model = test::read_file(newest + "/model.bin");
    model[model.size() / 2] ^= 0x5a;
    test::write_file(newest + "/model.bin", model);
  }
  const test::CommandResult direct = run(1, cfg() + " --resume " + newest);
  EXPECT_EQ(direct.exit_code, 2) << direct.output;
  EXPECT_NE(direct.output.find("error: checkpoint: " + newest +
                               "/model.bin: checksum mismatch: the file is corrupt"),
            std::string::npos)
      << direct.output;

  const test::CommandResult fallback = run(1, cfg() + " --resume auto");
  ASSERT_EQ(fallback.exit_code, 0) << fallback.output;
  EXPECT_NE(fallback.output.find("note: " + newest +
                                 "/model.bin: checksum mismatch: the file is corrupt; resuming "
                                 "from the newest valid checkpoint, " +
                                 checkpoints() + "/step_00000004"),
            std::string::npos)
      << fallback.output;
  EXPECT_NE(fallback.output.find("at step 4"), std::string::npos) << fallback.output;

  // A truncated optimizer shard: named with its size.
  const std::string opt = checkpoints() + "/step_00000012/optimizer.bin";
  const std::string bytes = test::read_file(opt);
  test::write_file(opt, bytes.substr(0, bytes.size() / 2));
  const test::CommandResult truncated =
      run(1, cfg() + " --resume " + checkpoints() + "/step_00000012 --set train.max_steps=16");
  EXPECT_EQ(truncated.exit_code, 2) << truncated.output;
  EXPECT_NE(
      truncated.output.find(opt + ": truncated or altered: " + std::to_string(bytes.size() / 2) +
                            " bytes, written with " + std::to_string(bytes.size())),
      std::string::npos)
      << truncated.output;
}

TEST_F(FaultTest, ACheckpointOfAnotherRunIsRefusedSayingWhatDiffers) {
  ASSERT_EQ(run(1, cfg() + " --set train.max_steps=4").exit_code, 0);
  const std::string ckpt = checkpoints() + "/step_00000004";
  const test::CommandResult model =
      run(1, cfg() + " --resume auto --set model.layers[0].out_features=64");
  EXPECT_EQ(model.exit_code, 2) << model.output;
  EXPECT_NE(model.output.find(ckpt + ": written by a run with a different model section"),
            std::string::npos)
      << model.output;
  const test::CommandResult opt = run(1, cfg() + " --resume auto --set optimizer.type=sgd");
  EXPECT_NE(opt.output.find("a different optimizer section"), std::string::npos) << opt.output;
  const test::CommandResult layout =
      run(2, cfg() + " --resume auto --set parallel.pipeline=2 --set parallel.microbatches=2");
  EXPECT_EQ(layout.exit_code, 2) << layout.output;
  EXPECT_NE(layout.output.find("the pipeline split (pipeline) must match"), std::string::npos)
      << layout.output;
}

// ---- Non-finite losses.

TEST_F(FaultTest, ANonFiniteLossStopsNamingTheStepAndTheRank) {
  // bf16 has no loss scaling: a non-finite loss stops it as it stops fp32.
  for (const std::string precision : {"fp32", "bf16"}) {
    SCOPED_TRACE(precision);
    const test::CommandResult r =
        run(2, cfg(precision) + " --set precision.compute=" + precision, "TRAINER_FAULT_NAN=1:5");
    EXPECT_EQ(r.exit_code, 3) << r.output;
    EXPECT_NE(r.output.find("the training loss is not finite at step 6 (epoch 1) on rank 1 "
                            "(pipeline stage 0, data-parallel rank 1)"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(test::count_of(r.output, "error:"), 1u) << r.output;
    // The checkpoint of step 4 is the last one: nothing after the bad step was saved.
    EXPECT_EQ(test::read_file(checkpoints(precision) + "/latest"), "step_00000004\n");
  }
}

TEST_F(FaultTest, SkippingANonFiniteStepSkipsItOnEveryRank) {
  const test::CommandResult r =
      run(2, cfg() + " --set train.on_nonfinite=skip --set parallel.replica_check_steps=1",
          "TRAINER_FAULT_NAN=1:5");
  ASSERT_EQ(r.exit_code, 0) << r.output;  // the replica check after every step passed
  EXPECT_NE(r.output.find("step 6 skipped: the training loss is not finite at step 6"),
            std::string::npos)
      << r.output;
  const nlohmann::json summary =
      nlohmann::json::parse(test::read_file(dir_.file("out") + "/summary.json"));
  EXPECT_EQ(summary["skipped_steps"], 1);
  EXPECT_TRUE(std::isfinite(summary["final_loss"].get<double>()));
}

// ---- A crash, then resume: the rest of the loss curve is bit-identical.

TEST_F(FaultTest, KilledAtStepKThenResumedGivesTheUninterruptedLossCurve) {
  for (int ranks : {1, 2}) {
    SCOPED_TRACE(std::to_string(ranks) + " rank(s)");
    const std::string straight = "straight" + std::to_string(ranks);
    const std::string crashed = "crashed" + std::to_string(ranks);
    ASSERT_EQ(run(ranks, cfg(straight)).exit_code, 0);
    const test::CommandResult killed = run(ranks, cfg(crashed), "TRAINER_FAULT_KILL=0:9");
    EXPECT_NE(killed.exit_code, 0);
    EXPECT_EQ(test::read_file(checkpoints(crashed) + "/latest"), "step_00000008\n");
    const test::CommandResult resumed = run(ranks, cfg(crashed) + " --resume auto");
    ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
    const auto a = losses(dir_.file(straight)), b = losses(dir_.file(crashed));
    for (int step = 9; step <= 12; ++step) ASSERT_EQ(b.at(step), a.at(step)) << "step " << step;
    EXPECT_EQ(test::read_file(checkpoints(straight) + "/step_00000012/model.bin"),
              test::read_file(checkpoints(crashed) + "/step_00000012/model.bin"));
  }
}

// ---- fp16 overflow: an inf in a gradient on one rank skips the step on every rank.

// fp16 with dynamic loss scaling, a checkpoint after every step, replicas compared every step.
std::string fp16(const std::string& cfg) {
  return cfg +
         " --set precision.compute=fp16 --set checkpoint.every_steps=1 --set checkpoint.keep=10 "
         "--set parallel.replica_check_steps=1 --set train.max_steps=6";
}

TEST_F(FaultTest, AnOverflowOnOneRankSkipsTheStepOnEveryRankAndHalvesTheScale) {
  // Data parallel: rank 1's gradients overflow after the all-reduce (its own copy only); under
  // ZeRO 1 and 2, in the range it owns. And a pipeline: the last stage's do, the first stage's
  // are finite.
  const std::map<std::string, std::string> layouts = {
      {"data", ""},
      {"zero1", " --set parallel.zero=1"},
      {"zero2", " --set parallel.zero=2"},
      {"pipeline", " --set parallel.pipeline=2 --set parallel.microbatches=2"}};
  for (const auto& [out, layout] : layouts) {
    SCOPED_TRACE(out);
    const test::CommandResult r = run(2, fp16(cfg(out)) + layout, "TRAINER_FAULT_INF_GRAD=1:3");
    ASSERT_EQ(r.exit_code, 0) << r.output;  // the replica check after every step passed
    const auto scale = metric(dir_.file(out), "loss_scale");
    EXPECT_EQ(scale.at(3), 65536.0);
    EXPECT_EQ(scale.at(4), 32768.0);  // step 4 overflowed
    EXPECT_EQ(scale.at(6), 32768.0);
    EXPECT_EQ(metric(dir_.file(out), "skipped_steps").at(4), 1.0);
    // The skipped step left the weights and the optimizer's state bit-identical, the next one
    // did not (on every stage).
    const std::map<std::string, std::vector<std::string>> shards = {
        {"data", {"model.bin", "optimizer.bin"}},
        {"zero1", {"model.bin", "optimizer-shard0.bin", "optimizer-shard1.bin"}},
        {"zero2", {"model.bin", "optimizer-shard0.bin", "optimizer-shard1.bin"}},
        {"pipeline", {"model-stage0.bin", "model-stage1.bin", "optimizer-stage0.bin"}}};
    for (const std::string& shard : shards.at(out)) {
      SCOPED_TRACE(shard);
      const std::string at = checkpoints(out) + "/step_0000000";
      const std::string before = test::read_file(at + "3/" + shard);
      ASSERT_FALSE(before.empty());
      EXPECT_TRUE(before == test::read_file(at + "4/" + shard));
      EXPECT_FALSE(before == test::read_file(at + "5/" + shard));
    }
  }
}

TEST_F(FaultTest, TheScaleGrowsAfterItsIntervalAndAResumeRestoresIt) {
  const std::string grow = " --set precision.growth_interval=2";
  ASSERT_EQ(run(1, fp16(cfg("straight")) + grow).exit_code, 0);
  const auto scale = metric(dir_.file("straight"), "loss_scale");
  EXPECT_EQ(scale.at(1), 65536.0);
  EXPECT_EQ(scale.at(2), 131072.0);  // after 2 clean steps
  EXPECT_EQ(scale.at(4), 262144.0);
  // Stopped after step 3 (scale 131072, one clean step counted), then resumed.
  ASSERT_EQ(run(1, fp16(cfg("resumed")) + grow + " --set train.max_steps=3").exit_code, 0);
  const test::CommandResult resumed = run(1, fp16(cfg("resumed")) + grow + " --resume auto");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  const auto again = metric(dir_.file("resumed"), "loss_scale");
  const auto a = losses(dir_.file("straight")), b = losses(dir_.file("resumed"));
  for (int step = 4; step <= 6; ++step) {
    EXPECT_EQ(again.at(step), scale.at(step)) << "step " << step;
    EXPECT_EQ(b.at(step), a.at(step)) << "step " << step;
  }
}

TEST_F(FaultTest, AScaleBelowItsMinimumStopsTheRunSayingSo) {
  const test::CommandResult r =
      run(1, fp16(cfg()) + " --set precision.min_scale=65536", "TRAINER_FAULT_INF_GRAD=0:1");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("step 2: the fp16 loss scale fell below its minimum (65536.000000) "
                          "after repeated overflows"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace trainer
