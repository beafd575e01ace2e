// Training on the GPU against training on the CPU: in one process, and with two ranks sharing
// the one GPU (MPI communicator, buffers staged through the host). Label `gpu`: skipped where no
// GPU is visible.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>

#include "core/cuda/runtime.cuh"
#include "launcher/config.h"
#include "launcher/run_setup.h"
#include "launcher/training.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

// The binary under test: scripts/gpu.sh runs the tests on another machine, from its bundle.
std::string trainer_binary() {
  const char* carried = std::getenv("TRAINER_BIN");
  return carried ? carried : TRAINER_BINARY;
}

class GpuTrainingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    test::write_file(dir_.file("cfg.yaml"), test::kSmallConvNet);
  }
  RunSetup setup(const std::string& device, const std::string& precision = "fp32") {
    return build_run(load_config(dir_.file("cfg.yaml"),
                                 {"run.out_dir=" + dir_.file(device), "device=" + device,
                                  "precision.compute=" + precision, "train.max_steps=10"}));
  }
  std::string args(const std::string& device) const {
    return dir_.file("cfg.yaml") + " --set device=" + device +
           " --set run.out_dir=" + dir_.file(device);
  }
  nlohmann::json summary(const std::string& device) const {
    return nlohmann::json::parse(test::read_file(dir_.file(device + "/summary.json")));
  }
  void ten_steps_on_both(const std::string& precision);
  test::TempDir dir_;
};

TEST_F(GpuTrainingTest, TenStepsOnTheGpuEndWhereTheCpuDoes) {
  for (const std::string precision : {"fp32", "fp16", "bf16"}) {
    SCOPED_TRACE(precision);
    ten_steps_on_both(precision);
  }
}

void GpuTrainingTest::ten_steps_on_both(const std::string& precision) {
  RunSetup cpu = setup("cpu", precision), gpu = setup("cuda", precision);
  ASSERT_EQ(gpu.model->device(), Device::cuda(0));
  FILE* log = std::fopen("/dev/null", "w");
  const nlohmann::json a = train(cpu, 0, log), b = train(gpu, 0, log);
  std::fclose(log);
  // In 16 bits a sum in another order can round to the neighbouring value, and Adam's first
  // steps move every weight by about lr whatever the gradient's size: looser bounds there.
  const bool half = precision != "fp32";
  EXPECT_NEAR(b["final_loss"].get<double>(), a["final_loss"].get<double>(), half ? 1e-2 : 1e-4);
  const auto want = test::parameters_by_name(*cpu.model),
             got = test::parameters_by_name(*gpu.model);
  for (const auto& [name, values] : want) {
    SCOPED_TRACE(name);
    test::expect_close(got.at(name), values, half ? 3e-2 : 1e-4, half ? 0.0 : 1e-3);
  }
}

// A small GPT on token data: embedding, attention, layer norm, the tied head, the
// vocabulary-wide loss, in fp32 and bf16; in bf16 also with heads of 32 channels, which the fused
// attention kernels take (8 positions: every tile mostly padding).
TEST_F(GpuTrainingTest, TenGptStepsOnTheGpuEndWhereTheCpuDoes) {
  test::write_tokens(dir_.file("tokens.bin"), 801, 19);
  struct Case {
    int channels;
    std::string precision;
  };
  for (const Case& k : {Case{16, "fp32"}, Case{16, "bf16"}, Case{64, "bf16"}}) {
    SCOPED_TRACE(k.precision + ", " + std::to_string(k.channels) + " channels");
    test::write_file(dir_.file("cfg.yaml"),
                     test::small_gpt_config(dir_.file("tokens.bin"), k.channels));
    ten_steps_on_both(k.precision);
  }
}

// train.cuda_graph: the replayed steps end at the eager steps' weights bit for bit (the same
// kernels with the same arguments), the CNN in every precision (16-bit cuDNN convolutions, fp16's
// loss scaling) and the small GPT (embedding, attention, the vocabulary-wide loss).
TEST_F(GpuTrainingTest, GraphReplaysEndAtTheEagerStepsWeights) {
  test::write_tokens(dir_.file("tokens.bin"), 801, 19);
  const std::string cnn = dir_.file("cfg.yaml"), gpt = dir_.file("gpt.yaml");
  test::write_file(gpt, test::small_gpt_config(dir_.file("tokens.bin")));
  struct Case {
    std::string config, precision;
  };
  for (const Case& k : {Case{cnn, "fp32"}, Case{cnn, "bf16"}, Case{cnn, "fp16"}, Case{gpt, "fp32"},
                        Case{gpt, "bf16"}}) {
    SCOPED_TRACE(k.config + " " + k.precision);
    nlohmann::json summary[2];
    std::map<std::string, std::vector<float>> weights[2];
    for (int graph = 0; graph < 2; ++graph) {
      std::vector<std::string> set{"run.out_dir=" + dir_.file("graph" + std::to_string(graph)),
                                   "device=cuda", "precision.compute=" + k.precision,
                                   "train.max_steps=12",
                                   std::string("train.cuda_graph=") + (graph ? "true" : "false")};
      if (k.config == cnn) set.push_back("model.layers[4].p=0");  // its dropout off
      RunSetup r = build_run(load_config(k.config, set));
      FILE* log = std::fopen("/dev/null", "w");
      summary[graph] = train(r, 0, log);
      std::fclose(log);
      weights[graph] = test::parameters_by_name(*r.model);
    }
    EXPECT_GE(summary[1]["graph"]["replays"].get<int64_t>(), 10);  // fp16 may capture again
    EXPECT_EQ(summary[1]["final_loss"], summary[0]["final_loss"]);
    EXPECT_EQ(weights[1], weights[0]);
  }
}

// log.layer_times on the GPU: the passes and the rest of the step's work are timed by events on
// the compute stream, and each is a disjoint stretch of the step (which waits for the GPU once,
// at its read-back), so every row's time is positive and together they are at most the step.
TEST_F(GpuTrainingTest, LayerTimesOnTheGpuArePartsOfTheStep) {
  test::write_tokens(dir_.file("tokens.bin"), 801, 19);
  test::write_file(dir_.file("gpt.yaml"), test::small_gpt_config(dir_.file("tokens.bin")));
  RunSetup r =
      build_run(load_config(dir_.file("gpt.yaml"), {"run.out_dir=" + dir_.file("times"),
                                                    "device=cuda", "precision.compute=bf16",
                                                    "train.max_steps=6", "log.layer_times=true"}));
  FILE* log = std::fopen("/dev/null", "w");
  const nlohmann::json t = train(r, 0, log)["layer_times"];
  std::fclose(log);
  EXPECT_EQ(t["steps"], 5);
  // 11 leaves, forward and backward; 2 residual adds; the loss, the gradients' zeroing, the weight
  // cast, the update's decision and the update.
  ASSERT_EQ(t["layers"].size(), 2u * 11u + 2u + 5u);
  double ms = 0;
  for (const auto& l : t["layers"]) {
    EXPECT_GT(l["ms"].get<double>(), 0.0) << l["name"];
    ms += l["ms"].get<double>();
  }
  EXPECT_LE(ms, t["step_ms"].get<double>());
}

TEST_F(GpuTrainingTest, TwoRanksSharingTheGpuMatchOneCpuProcess) {
  const std::string mpirun =
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 timeout 120 "
      "mpirun --oversubscribe -np 2 " +
      trainer_binary() + " ";
  const test::CommandResult two = test::run_command(mpirun + args("cuda"));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_NE(two.output.find("2 ranks share 1 GPU on this node: gradients go over MPI"),
            std::string::npos)
      << two.output;
  const test::CommandResult one = test::run_command(trainer_binary() + " " + args("cpu"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_NEAR(summary("cuda")["final_loss"].get<double>(),
              summary("cpu")["final_loss"].get<double>(), 1e-4);
  // ZeRO 1 and 2 with GPU buffers: reduce-scatter and all-gather staged through the host;
  // under 2 the bucket buffers come and go from the device's caching allocator.
  for (const std::string stage : {"1", "2"}) {
    const test::CommandResult zero = test::run_command(
        mpirun + dir_.file("cfg.yaml") + " --set device=cuda --set parallel.zero=" + stage +
        " --set run.out_dir=" + dir_.file("cuda-zero" + stage));
    ASSERT_EQ(zero.exit_code, 0) << zero.output;
    EXPECT_NEAR(summary("cuda-zero" + stage)["final_loss"].get<double>(),
                summary("cpu")["final_loss"].get<double>(), 1e-4);
  }
  // NCCL cannot put two ranks of one communicator on one GPU: asked for, it is refused up front.
  const test::CommandResult nccl =
      test::run_command(mpirun + args("cuda") + " --set parallel.communicator=nccl");
  EXPECT_EQ(nccl.exit_code, 2) << nccl.output;
  EXPECT_NE(nccl.output.find("parallel.communicator: nccl: 2 ranks on this node share its 1 GPU"),
            std::string::npos)
      << nccl.output;
}

}  // namespace
}  // namespace trainer
