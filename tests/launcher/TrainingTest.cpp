// The training loop end to end on synthetic data: it learns, its numbers do not depend on how a
// batch is split, it repeats itself exactly, it writes the run files, and it stops on a NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>

#include "core/check.h"
#include "launcher/config.h"
#include "launcher/run_setup.h"
#include "launcher/training.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

const char* kConfig = R"(run: {name: t, seed: 3}
data:
  train: {type: synthetic, samples: 512, shape: [1, 6, 6], classes: 4, noise: 1.0}
  test: {type: synthetic, samples: 256, shape: [1, 6, 6], classes: 4, noise: 1.0}
  batch_size: 32
model:
  layers:
    - {type: conv2d, out_channels: 4, kernel: 3, padding: 1}
    - {type: tanh}
    - {type: maxpool2d, kernel: 2}
    - {type: flatten}
    - {type: dropout, p: 0.2}
    - {type: linear, out_features: 16}
    - {type: gelu}
    - {type: linear, out_features: 4}
optimizer: {type: adamw, lr: 0.01}
train: {epochs: 2}
log: {every_steps: 4}
)";

// A CUDA graph's stand-in on the CPU: capturing records nothing, and each replay runs the step's
// work again, reading the graph's own input buffers and loss totals. What it checks is what
// surrounds a graph (each step's pieces copied in before the replay, the totals zeroed and read,
// a shape's first step eager, one capture for one shape), which a real graph relies on.
class RerunRecorder : public GraphRecorder {
 public:
  explicit RerunRecorder(int& captures) : captures_(captures) {}  // the run owns the recorder
  void capture(const std::function<void()>&) override { ++captures_; }
  void replay(const std::function<void()>& work) override { work(); }

 private:
  int& captures_;
};

class TrainingTest : public ::testing::Test {
 protected:
  RunSetup setup(const std::vector<std::string>& extra = {}) {
    test::write_file(dir_.file("cfg.yaml"), kConfig);
    std::vector<std::string> overrides{"run.out_dir=" + dir_.file("out")};
    overrides.insert(overrides.end(), extra.begin(), extra.end());
    return build_run(load_config(dir_.file("cfg.yaml"), overrides));
  }
  nlohmann::json run(RunSetup& r) {
    FILE* log = std::fopen("/dev/null", "w");
    nlohmann::json s = train(r, 0, log);
    std::fclose(log);
    return s;
  }

  // The same settings trained eagerly and through the stand-in of a step graph: the summaries,
  // the graph's captures and the weights each ended at.
  struct EagerAndGraphed {
    nlohmann::json eager, graphed;
    int captures = 0;
    std::map<std::string, std::vector<float>> eager_weights, graphed_weights;
  };
  EagerAndGraphed eager_and_graphed(const std::vector<std::string>& settings) {
    EagerAndGraphed out;
    RunSetup eager = setup(settings);
    out.eager = run(eager);
    out.eager_weights = test::parameters_by_name(*eager.model);
    RunSetup graphed = setup(settings);
    graphed.graph_recorder = std::make_unique<RerunRecorder>(out.captures);
    out.graphed = run(graphed);
    out.graphed_weights = test::parameters_by_name(*graphed.model);
    return out;
  }

  test::TempDir dir_;
};

TEST_F(TrainingTest, AStepGraphTrainsAsTheEagerStepsDo) {
  const EagerAndGraphed r =
      eager_and_graphed({"model.layers[4].p=0", "train.grad_accum=2", "train.epochs=1"});
  const nlohmann::json &a = r.eager, &b = r.graphed;
  EXPECT_EQ(r.captures, 1);
  EXPECT_EQ(b["graph"]["captures"], 1);
  EXPECT_EQ(b["graph"]["replays"], 15);  // 16 steps, the first eager
  EXPECT_FALSE(a.contains("graph"));
  EXPECT_EQ(b["final_loss"], a["final_loss"]);
  EXPECT_EQ(b["test_accuracy"], a["test_accuracy"]);
  EXPECT_EQ(r.graphed_weights, r.eager_weights);
}

// fp16 with a loss scale too large at first: the graph's steps skip the overflowed updates on
// their own decision, the scale is cut (a new scale is a new capture), and the run ends where the
// eager one does.
TEST_F(TrainingTest, AStepGraphSkipsFp16OverflowsAsTheEagerStepsDo) {
  const EagerAndGraphed r =
      eager_and_graphed({"model.layers[4].p=0", "train.epochs=1", "precision.compute=fp16",
                         "precision.init_scale=16777216"});
  const nlohmann::json &a = r.eager, &b = r.graphed;
  EXPECT_GT(a["skipped_steps"].get<int64_t>(), 0);
  EXPECT_EQ(b["skipped_steps"], a["skipped_steps"]);
  EXPECT_GT(r.captures, 1);
  EXPECT_EQ(b["final_loss"], a["final_loss"]);
  EXPECT_EQ(r.graphed_weights, r.eager_weights);
}

// A library that refuses to be recorded (a DeviceError during the capture) leaves the run eager,
// saying why, with the eager steps' weights.
class RefusingRecorder : public GraphRecorder {
 public:
  void capture(const std::function<void()>&) override {
    throw DeviceError("CUDA error 900 (operation not permitted when stream is capturing)");
  }
  void replay(const std::function<void()>&) override { ADD_FAILURE() << "nothing was captured"; }
};

TEST_F(TrainingTest, AStepThatCannotBeCapturedRunsEagerly) {
  const std::vector<std::string> settings{"model.layers[4].p=0", "train.epochs=1"};
  RunSetup eager = setup(settings);
  const nlohmann::json a = run(eager);
  RunSetup graphed = setup(settings);
  graphed.graph_recorder = std::make_unique<RefusingRecorder>();
  const nlohmann::json b = run(graphed);
  EXPECT_EQ(b["graph"]["captures"], 0);
  EXPECT_EQ(b["graph"]["replays"], 0);
  EXPECT_EQ(b["graph"]["failure"],
            "CUDA error 900 (operation not permitted when stream is capturing)");
  EXPECT_EQ(b["final_loss"], a["final_loss"]);
  EXPECT_EQ(test::parameters_by_name(*graphed.model), test::parameters_by_name(*eager.model));
}

TEST_F(TrainingTest, LearnsASeparableProblem) {
  RunSetup r = setup();
  const nlohmann::json s = run(r);
  EXPECT_EQ(s["steps"], 32);
  EXPECT_GT(s["test_accuracy"].get<double>(), 0.9);
  EXPECT_LT(s["final_loss"].get<double>(), 0.5);
}

TEST_F(TrainingTest, SameSeedSameNumbersBitForBit) {
  RunSetup a = setup(), b = setup();
  run(a);
  run(b);
  EXPECT_EQ(test::parameter_values(*a.model), test::parameter_values(*b.model));
}

// Splitting the batch into accumulation steps or micro-batches changes only the order of the
// float sums in the weight gradients: relative differences of order 1e-7 per step, compounded
// over 8 Adam steps whose normalisation amplifies them where second moments are small.
TEST_F(TrainingTest, GradientAccumulationMatchesOneLargeBatch) {
  RunSetup whole = setup({"train.max_steps=8"});
  RunSetup accum = setup({"train.max_steps=8", "train.grad_accum=4"});
  RunSetup micro = setup({"train.max_steps=8", "parallel.microbatches=2", "train.grad_accum=2"});
  run(whole);
  run(accum);
  run(micro);
  const std::vector<float> w = test::parameter_values(*whole.model),
                           a = test::parameter_values(*accum.model),
                           m = test::parameter_values(*micro.model);
  ASSERT_EQ(w.size(), a.size());
  for (size_t i = 0; i < w.size(); ++i) {
    ASSERT_NEAR(a[i], w[i], 1e-4) << i;
    ASSERT_NEAR(m[i], w[i], 1e-4) << i;
  }
}

TEST_F(TrainingTest, WritesTheRunDirectory) {
  RunSetup r = setup({"train.max_steps=10"});
  run(r);
  std::ifstream metrics(dir_.file("out/metrics.jsonl"));
  std::string line;
  std::vector<nlohmann::json> records;
  while (std::getline(metrics, line)) records.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(records.size(), 3u);  // steps 4, 8, and the last, 10
  for (const char* key : {"step", "epoch", "loss", "lr", "samples_per_s", "step_ms"})
    EXPECT_TRUE(records[0].contains(key)) << key;
  EXPECT_EQ(records[2]["step"], 10);
  EXPECT_TRUE(records[2].contains("test_accuracy"));
  const nlohmann::json summary =
      nlohmann::json::parse(test::read_file(dir_.file("out/summary.json")));
  for (const char* key : {"steps", "final_loss", "test_accuracy", "train_samples_per_s", "wall_s",
                          "parameters", "world", "layout"})
    EXPECT_TRUE(summary.contains(key)) << key;
  EXPECT_EQ(summary["parameters"], r.model->parameter_count());
  const YAML::Node resolved = YAML::LoadFile(dir_.file("out/config.yaml"));
  EXPECT_EQ(resolved["train"]["max_steps"].as<int>(), 10);
  EXPECT_EQ(resolved["optimizer"]["beta2"].as<double>(), 0.999);
}

TEST_F(TrainingTest, StopsOnANonFiniteLossNamingTheStep) {
  RunSetup r = setup({"optimizer.type=sgd", "optimizer.lr=1e30"});
  try {
    run(r);
    FAIL() << "no error";
  } catch (const TrainingError& e) {
    EXPECT_NE(std::string(e.what()).find("the training loss is"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(" at step 2 "), std::string::npos) << e.what();
  }
}

// Through a step graph the update is decided inside the step: a non-finite loss stops the run at
// the same step with the same message, and the skipped update leaves the eager run's weights.
TEST_F(TrainingTest, AStepGraphStopsOnANonFiniteLossWithTheEagerWeights) {
  const std::vector<std::string> settings{"model.layers[4].p=0", "optimizer.type=sgd",
                                          "optimizer.lr=1e30"};
  std::string message[2];
  std::map<std::string, std::vector<float>> weights[2];
  for (int graph = 0; graph < 2; ++graph) {
    RunSetup r = setup(settings);
    int captures = 0;
    if (graph) r.graph_recorder = std::make_unique<RerunRecorder>(captures);
    try {
      run(r);
      ADD_FAILURE() << "no error";
    } catch (const TrainingError& e) {
      message[graph] = e.what();
    }
    EXPECT_EQ(captures, graph);  // step 1 eager, step 2 through the graph
    weights[graph] = test::parameters_by_name(*r.model);
  }
  EXPECT_NE(message[1].find(" at step 2 "), std::string::npos) << message[1];
  EXPECT_EQ(message[1], message[0]);
  EXPECT_EQ(weights[1], weights[0]);
}

// One process's timeline: a span per step, the layers inside it, and no more than
// log.trace_steps steps however long the run.
TEST_F(TrainingTest, TimelineKeepsTheFirstTraceSteps) {
  RunSetup r = setup({"train.max_steps=6", "log.trace=true", "log.trace_steps=4"});
  run(r);
  std::ifstream in(dir_.file("out/trace/rank0.json"));
  ASSERT_TRUE(in);
  int steps = 0, conv_backward = 0;
  const nlohmann::json events = nlohmann::json::parse(in)["traceEvents"];
  for (const auto& e : events) {
    const std::string name = e["name"];
    steps += name.rfind("step ", 0) == 0;
    conv_backward += name == "backward 0.conv2d";
  }
  EXPECT_EQ(steps, 4);
  EXPECT_EQ(conv_backward, 4);
}

// log.layer_times: every pass of every leaf layer of the small GPT (2 blocks, 2 micro-batches),
// the blocks' copies together, over the steps after the first; the evaluation's passes after
// step 3 (the first epoch's end) are not counted. The passes are disjoint spans of the step on its
// own thread: their sum is at most the step.
TEST_F(TrainingTest, LayerTimesCountEveryLeafPassOfTheStepsAfterTheFirst) {
  test::write_tokens(dir_.file("tokens.bin"), 100, 19);  // 12 samples: 3 steps an epoch
  test::write_file(dir_.file("gpt.yaml"), test::small_gpt_config(dir_.file("tokens.bin")));
  RunSetup r = build_run(load_config(dir_.file("gpt.yaml"),
                                     {"run.out_dir=" + dir_.file("out"), "train.max_steps=5",
                                      "log.layer_times=true", "parallel.microbatches=2",
                                      "data.test={type: tokens, path: " + dir_.file("tokens.bin") +
                                          ", sequence_length: 8, vocab_size: 19}"}));
  const nlohmann::json t = run(r)["layer_times"];
  EXPECT_EQ(t["steps"], 4);
  std::map<std::string, int64_t> calls;
  double ms = 0;
  for (const auto& l : t["layers"]) {
    calls[l["name"]] = l["calls"];
    ms += l["ms"].get<double>();
    EXPECT_GE(l["ms"].get<double>(), 0.0);
  }
  for (const char* pass : {"forward", "backward"}) {
    for (const char* leaf :
         {"layer_norm attn.ln", "linear attn.qkv", "attention attn.core", "linear attn.proj",
          "layer_norm mlp.ln", "linear mlp.fc", "gelu_tanh mlp.gelu", "linear mlp.proj"})
      EXPECT_EQ(calls[std::string(pass) + " " + leaf], 2 * 2) << pass << " " << leaf;
    for (const char* top : {"embedding 0", "layer_norm 3", "lm_head 4"})
      EXPECT_EQ(calls[std::string(pass) + " " + top], 2) << pass << " " << top;
    // Two blocks of two residual branches, each micro-batch.
    EXPECT_EQ(calls[std::string(pass) + " residual add"], 2 * 2 * 2) << pass;
  }
  // The step's work outside the layers: the loss of each micro-batch, once the rest.
  EXPECT_EQ(calls["loss"], 2);
  for (const char* once : {"zero gradients", "weight cast", "update decision", "update"})
    EXPECT_EQ(calls[once], 1) << once;
  EXPECT_EQ(calls.size(), 2u * 11u + 2u + 5u);  // no block is counted beside its children
  EXPECT_GT(ms, 0.0);
  EXPECT_LE(ms, t["step_ms"].get<double>());

  // Recomputed blocks: their children's second forwards, in backward, are recompute passes.
  RunSetup again = build_run(
      load_config(dir_.file("gpt.yaml"), {"run.out_dir=" + dir_.file("again"), "train.max_steps=3",
                                          "log.layer_times=true", "train.recompute=blocks"}));
  std::map<std::string, int64_t> recomputed;
  const nlohmann::json timed = run(again)["layer_times"];
  for (const auto& l : timed["layers"]) recomputed[l["name"]] = l["calls"];
  EXPECT_EQ(recomputed["forward attention attn.core"], 2);
  EXPECT_EQ(recomputed["recompute attention attn.core"], 2);
  EXPECT_EQ(recomputed.count("recompute embedding 0"), 0u);
}

// fp16 and bf16 store activations in 16 bits and still learn; fp16 scales its loss, bf16 not.
TEST_F(TrainingTest, HalfPrecisionStoresActivationsInSixteenBitsAndLearns) {
  RunSetup f32 = setup(), f16 = setup({"precision.compute=fp16"});
  RunSetup b16 = setup({"precision.compute=bf16"});
  const nlohmann::json a = run(f32), h = run(f16), b = run(b16);
  EXPECT_EQ(h["loss_scale"], 65536.0);
  EXPECT_EQ(b["loss_scale"], 1.0);
  EXPECT_EQ(h["skipped_steps"], 0);
  // Per sample the stash holds conv's input (36 values), tanh's output (144), the pooling
  // argmax (36 int32), the linear layers' inputs (36, 16) and gelu's input (16): 1136 bytes in
  // fp32, 640 in 16 bits (argmax stays 4 bytes). Dropout keeps no mask: backward draws it again.
  EXPECT_EQ(a["peak_activation_bytes"][0], 32 * 1136);
  EXPECT_EQ(h["peak_activation_bytes"][0], 32 * 640);
  EXPECT_EQ(b["peak_activation_bytes"][0], 32 * 640);
  for (const nlohmann::json* s : {&h, &b})
    EXPECT_NEAR((*s)["test_accuracy"].get<double>(), a["test_accuracy"].get<double>(), 0.03);
}

// What a GPT holds for backward is what the cost model (and --dry-run) says it holds, with every
// transformer block recomputed and without; blocks' inner stashes are counted.
TEST_F(TrainingTest, GptActivationBytesAreTheCostModelsWithAndWithoutRecompute) {
  test::write_tokens(dir_.file("tokens.bin"), 600, 19);
  test::write_file(dir_.file("gpt.yaml"), test::small_gpt_config(dir_.file("tokens.bin")));
  std::map<std::string, int64_t> measured, planned;
  for (const char* mode : {"none", "blocks"}) {
    RunSetup r = build_run(
        load_config(dir_.file("gpt.yaml"), {"run.out_dir=" + dir_.file(mode), "train.max_steps=2",
                                            std::string("train.recompute=") + mode}));
    for (const LayerCost& l : r.layers) planned[mode] += l.stash_bytes_per_sample;
    measured[mode] = run(r)["peak_activation_bytes"][0].get<int64_t>();
    EXPECT_EQ(measured[mode], 4 * planned[mode]) << mode;  // batch 4
  }
  EXPECT_LT(measured["blocks"] * 3, measured["none"]);
}

}  // namespace
}  // namespace trainer
