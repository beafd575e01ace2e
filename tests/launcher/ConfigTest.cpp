// Each kind of bad config gives its exact one-line error, naming file:line and key.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"
#include "launcher/config.h"
#include "launcher/device.h"
#include "launcher/run_setup.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

const char* kBase = R"(run: {name: t, seed: 1}
data:
  train: {type: synthetic, samples: 256, shape: [1, 4, 4], classes: 3}
  batch_size: 32
model:
  layers:
    - {type: flatten}
    - {type: linear, out_features: 8}
    - {type: relu}
    - {type: linear, out_features: 3}
optimizer: {type: sgd, lr: 0.1}
)";

class ConfigTest : public ::testing::Test {
 protected:
  // Writes `yaml` to cfg.yaml; returns the error that loading and building it gives.
  std::string error_for(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    test::write_file(path(), yaml);
    try {
      build_run(load_config(path(), overrides));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "no error";
  }
  std::string replaced(const std::string& from, const std::string& to) {
    std::string s = kBase;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  }
  std::string path() const { return dir_.file("cfg.yaml"); }
  std::string at(int line) const { return path() + ":" + std::to_string(line) + ": "; }

  test::TempDir dir_;
};

TEST_F(ConfigTest, TheBaseConfigIsValid) { EXPECT_EQ(error_for(kBase), "no error"); }

TEST_F(ConfigTest, UnknownKey) {
  EXPECT_EQ(error_for(replaced("lr: 0.1}", "lr: 0.1, lrr: 3}")),
            at(11) +
                "optimizer.lrr: unknown key; expected one of: lr, momentum, nesterov, "
                "schedule, type, weight_decay");
  EXPECT_EQ(error_for(std::string(kBase) + "trian: {epochs: 1}\n"),
            at(12) +
                "trian: unknown key; expected one of: checkpoint, data, device, log, loss, "
                "model, optimizer, parallel, precision, run, train");
}

TEST_F(ConfigTest, DuplicateKey) {
  EXPECT_EQ(error_for(replaced("  batch_size: 32\n", "  batch_size: 32\n  batch_size: 64\n")),
            at(5) + "data.batch_size: duplicate key (first given at line 4)");
}

TEST_F(ConfigTest, WrongType) {
  EXPECT_EQ(error_for(replaced("batch_size: 32", "batch_size: many")),
            at(4) + "data.batch_size: expected an integer >= 1, got 'many'");
  EXPECT_EQ(error_for(replaced("batch_size: 32", "batch_size: 3.5")),
            at(4) + "data.batch_size: expected an integer >= 1, got '3.5'");
  EXPECT_EQ(error_for(replaced("lr: 0.1", "lr: \"0.1\"")),
            at(11) + "optimizer.lr: expected a number > 0, got '0.1'");
  EXPECT_EQ(error_for(replaced("run: {name: t, seed: 1}", "run: [t, 1]")),
            at(1) + "run: expected a mapping of keys, got a list");
}

TEST_F(ConfigTest, OutOfRange) {
  EXPECT_EQ(error_for(replaced("lr: 0.1", "lr: -0.1")),
            at(11) + "optimizer.lr: expected a number > 0, got '-0.1'");
  EXPECT_EQ(error_for(replaced("batch_size: 32", "batch_size: 0")),
            at(4) + "data.batch_size: expected an integer >= 1, got '0'");
  EXPECT_EQ(error_for(replaced("{type: sgd, lr: 0.1}", "{type: sgd, lr: 0.1, momentum: 1.5}")),
            at(11) + "optimizer.momentum: expected a number in [0, 1), got '1.5'");
  EXPECT_EQ(error_for(replaced("{type: sgd", "{type: lbfgs")),
            at(11) + "optimizer.type: expected one of adam, adamw, sgd, got 'lbfgs'");
}

TEST_F(ConfigTest, MissingKeyAndFile) {
  EXPECT_EQ(error_for(replaced("{type: linear, out_features: 8}", "{type: linear}")),
            at(8) + "model.layers[1].out_features: missing; expected an integer >= 1");
  EXPECT_EQ(
      error_for(replaced("{type: synthetic, samples: 256, shape: [1, 4, 4], classes: 3}",
                         "{type: idx, images: /nonexistent/img.gz, labels: /nonexistent/l.gz}")),
      at(3) + "data.train.images: file not found: /nonexistent/img.gz");
}

TEST_F(ConfigTest, ShapesThatDoNotFit) {
  EXPECT_EQ(
      error_for(replaced("{type: linear, out_features: 8}",
                         "{type: linear, in_features: 15, out_features: 8}")),
      at(8) +
          "model.layers[1].in_features: expected 16 (the size the layer before produces), got 15");
  EXPECT_EQ(error_for(replaced("    - {type: flatten}\n", "")),
            at(7) +
                "model.layers[0].type: linear expects a flat input or (positions, features), got "
                "[1, 4, 4] from the "
                "layer before; add {type: flatten} in front of it");
  EXPECT_EQ(
      error_for(replaced("{type: linear, out_features: 3}", "{type: linear, out_features: 4}")),
      at(10) +
          "model.layers[3]: the model outputs [4] per sample; the data has 3 classes, "
          "so the last layer must output [3]");
  EXPECT_EQ(
      error_for(replaced("model:\n", "model:\n  input: [1, 28, 28]\n")),
      at(6) +
          "model.input: expected [1, 4, 4] (the shape of a data.train sample), got [1, 28, 28]");
  EXPECT_EQ(
      error_for(
          replaced("    - {type: flatten}\n",
                   "    - {type: conv2d, out_channels: 2, kernel: 5}\n    - {type: flatten}\n")),
      at(7) + "model.layers[0].kernel: kernel 5 does not fit the input [1, 4, 4] with padding 0");
  EXPECT_EQ(error_for(replaced("{type: relu}", "{type: softmax}")),
            at(9) +
                "model.layers[2].type: expected one of conv2d, dropout, embedding, flatten, gelu, "
                "gelu_tanh, layer_norm, linear, lm_head, maxpool2d, relu, sigmoid, tanh, "
                "transformer_block, got 'softmax'");
}

TEST_F(ConfigTest, BatchesThatDoNotFit) {
  EXPECT_EQ(error_for(replaced("batch_size: 32", "batch_size: 512")),
            at(4) + "data.batch_size: 512 is larger than the training set (256 samples)");
  EXPECT_EQ(error_for(std::string(kBase) + "train: {grad_accum: 5}\n"),
            at(4) +
                "data.batch_size: 32 is not divisible by data-parallel ranks x train.grad_accum x "
                "parallel.microbatches = 1 x 5 x 1");
  EXPECT_EQ(error_for(std::string(kBase) + "parallel: {data: 2}\n"),
            at(12) +
                "parallel.data: 2 data-parallel x 1 pipeline ranks need 2 ranks, the job has 1; "
                "use auto");
}

// The head's padded vocabulary has -inf logits, which only a softmax can take: the squared
// error is refused, at its key, before anything is trained (without padding it is allowed).
TEST_F(ConfigTest, SquaredErrorIsRefusedOverAPaddedVocabulary) {
  test::write_tokens(dir_.file("tokens.bin"), 600, 19);
  const std::string gpt = test::small_gpt_config(dir_.file("tokens.bin"));
  const int loss_line = 1 + static_cast<int>(std::count(gpt.begin(), gpt.end(), '\n'));
  test::write_file(path(), gpt + "loss: mse\n");
  try {
    build_run(load_config(path(), {}, 1), 0, BuildFor::Training);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              at(loss_line) +
                  "loss: mse compares every logit with a one-hot target, and the head's "
                  "vocabulary padding (padded_vocab_size 24 > vocab_size 19) has logits of -inf; "
                  "use cross_entropy");
  }
  std::string unpadded = gpt;
  unpadded.replace(unpadded.find("padded_vocab_size: 24"), 21, "padded_vocab_size: 19");
  test::write_file(path(), unpadded + "loss: mse\n");
  EXPECT_NO_THROW(build_run(load_config(path(), {}, 1), 0, BuildFor::Training));
}

// parallel.tensor: the world must hold whole tensor groups, every split layer must split
// evenly (a block's heads, the embedding's padded rows), and a layer tensor parallelism does not
// split is refused rather than computed T times over. Checked in a plan too, before any layer is
// built split.
TEST_F(ConfigTest, TensorParallelismSplitsOnlyWhatDividesEvenly) {
  test::write_tokens(dir_.file("tokens.bin"), 600, 19);
  const std::string gpt = test::small_gpt_config(dir_.file("tokens.bin"));
  const auto error = [&](const std::string& yaml, int world, bool plan = false) {
    test::write_file(path(), yaml);
    try {
      build_run(load_config(path(), {}, world), 0, plan ? BuildFor::Plan : BuildFor::Training);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error(gpt + "parallel: {tensor: 2}\n", 2), "no error");
  for (bool plan : {false, true}) {
    EXPECT_EQ(error(gpt + "parallel: {tensor: 4}\n", 4, plan),
              at(8) +
                  "model.layers[1].heads: 2 heads do not split evenly over parallel.tensor 4 "
                  "ranks; use a tensor size that divides the heads");
    EXPECT_EQ(error(gpt + "parallel: {tensor: 16}\n", 16, plan),
              at(7) +
                  "model.layers[0].padded_vocab_size: 24 rows do not split evenly over "
                  "parallel.tensor 16 ranks; pad the vocabulary to a multiple of it");
  }
  EXPECT_EQ(error(gpt + "parallel: {tensor: 2}\n", 3),
            at(14) + "parallel.tensor x pipeline: 2 x 1 ranks do not divide the job's 3 rank(s)");
  // Sequence parallelism needs tensor ranks, whole blocks of positions per rank, no dropout.
  EXPECT_EQ(error(gpt + "parallel: {sequence_parallel: true}\n", 1),
            at(14) +
                "parallel.sequence_parallel: splits the activations of a tensor group; it needs "
                "parallel.tensor > 1");
  std::string odd = gpt;
  odd.replace(odd.find("sequence_length: 8"), 18, "sequence_length: 7");
  EXPECT_EQ(error(odd + "parallel: {tensor: 2, sequence_parallel: true}\n", 2),
            at(14) +
                "parallel.sequence_parallel: the sequence of 7 positions does not split evenly "
                "over parallel.tensor 2 ranks");
  EXPECT_EQ(error(gpt + "parallel: {tensor: 2, sequence_parallel: false}\n", 2), "no error");
  std::string dropout = gpt;
  dropout.insert(dropout.find("    - {type: transformer_block"), "    - {type: dropout, p: 0.1}\n");
  EXPECT_EQ(error(dropout + "parallel: {tensor: 2, sequence_parallel: true}\n", 2),
            at(8) +
                "model.layers[1]: a dropout layer cannot run under parallel.sequence_parallel "
                "(its rows are split between ranks); remove it or the option");
  EXPECT_EQ(error(std::string(kBase) + "parallel: {tensor: 2}\n", 2),
            at(7) +
                "model.layers[0]: a flatten layer cannot be split over parallel.tensor 2 ranks; "
                "tensor parallelism splits embedding, transformer_block and lm_head layers (use "
                "parallel.tensor: 1)");
}

// train.cuda_graph replays one process's GPU step, which must draw nothing anew each step.
TEST_F(ConfigTest, CudaGraphsNeedOneProcessOnAGpuAndNoDropout) {
  const std::string graph = std::string(kBase) + "train: {cuda_graph: true}\n";
  const std::string cpu =
      "train.cuda_graph: replays GPU work, and this run trains on the CPU; set it false";
  EXPECT_EQ(error_for(graph), at(12) + cpu);
  EXPECT_EQ(error_for(kBase, {"train.cuda_graph=true"}), "--set train.cuda_graph=true: " + cpu);
  test::write_file(path(), graph);
  try {
    load_config(path(), {}, 2);
    ADD_FAILURE() << "two ranks accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              at(12) +
                  "train.cuda_graph: replays one process's step, and this job has 2 ranks; set "
                  "it false");
  }
  const std::string dropout = "    - {type: relu}\n    - {type: dropout, p: 0.1}\n";
  EXPECT_EQ(error_for(replaced("    - {type: relu}\n", dropout) + "train: {cuda_graph: true}\n"),
            at(10) +
                "model.layers[3] (dropout) draws a new mask each step, which a replayed graph "
                "would repeat; remove it or set train.cuda_graph: false");
  EXPECT_EQ(error_for(std::string(kBase) + "train: {cuda_graph: true}\nlog: {layer_times: true}\n"),
            at(12) +
                "train.cuda_graph: a replayed step runs no layer's code, so log.layer_times would "
                "time nothing; set one of them false");
  // Dropout of p 0 draws nothing: what remains is the CPU.
  EXPECT_EQ(error_for(replaced("    - {type: relu}\n",
                               "    - {type: relu}\n    - {type: dropout, p: 0}\n") +
                      "train: {cuda_graph: true}\n"),
            at(13) + cpu);
}

// What each pipeline schedule needs of the layout; the base model has 4 layers. (World 2: one
// data rank under 2 stages.)
TEST_F(ConfigTest, SchedulesRefuseTheLayoutsTheyCannotRun) {
  const auto error = [&](const std::string& parallel, int world = 2) {
    test::write_file(path(), std::string(kBase) + "parallel: " + parallel + "\n");
    try {
      build_run(load_config(path(), {}, world));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error("{pipeline: 2, microbatches: 2, schedule: interleaved, virtual_stages: 2}"),
            "no error");
  EXPECT_EQ(error("{pipeline: 2, microbatches: 2, schedule: zb-h1, lookahead: false}"), "no error");
  EXPECT_EQ(
      error("{pipeline: 2, microbatches: 2, schedule: zb-v}"),
      at(12) + "parallel.schedule: expected one of 1f1b, gpipe, interleaved, zb-h1, got 'zb-v'");
  EXPECT_EQ(
      error("{pipeline: 2, microbatches: 2, virtual_stages: 2}"),
      at(12) + "parallel.virtual_stages: 2 chunks per stage need parallel.schedule: interleaved");
  EXPECT_EQ(error("{pipeline: 2, microbatches: 2, schedule: interleaved}"),
            at(12) +
                "parallel.schedule: interleaved needs parallel.pipeline >= 2 and "
                "parallel.virtual_stages >= 2 (chunks per stage), has 2 and 1");
  EXPECT_EQ(error("{pipeline: 2, microbatches: 3, schedule: interleaved, virtual_stages: 2}"),
            at(12) +
                "parallel.microbatches: 3 micro-batches; the interleaved schedule takes them in "
                "groups of the 2 stages: use a multiple of 2");
  EXPECT_EQ(error("{pipeline: 2, microbatches: 2, schedule: interleaved, virtual_stages: 3}"),
            at(12) +
                "parallel.virtual_stages: 2 stages x 3 chunks for a model of 4 layers; each chunk "
                "needs at least one layer");
  EXPECT_EQ(
      error("{pipeline: 2, microbatches: 2, schedule: interleaved, virtual_stages: 2, "
            "partition: [2]}"),
      at(12) + "parallel.partition: expected 3 layer indices (where pieces 1..3 begin), or auto");
  EXPECT_EQ(error("{pipeline: 2, microbatches: 2, schedule: zb-h1, zero: 2}", 4),
            at(12) +
                "parallel.zero: 2 reduces each micro-batch's gradients as its backward ends, which "
                "the zb-h1 schedule interleaves with other micro-batches'; use zero: 1 or "
                "schedule: 1f1b");
}

TEST_F(ConfigTest, PrecisionAndLossScale) {
  const auto scaler = [&](const std::string& precision) {
    test::write_file(dir_.file("p.yaml"), std::string(kBase) + "precision: " + precision + "\n");
    return load_config(dir_.file("p.yaml"), {}).loss_scaler;
  };
  using Kind = LossScalerConfig::Kind;
  EXPECT_EQ(scaler("{compute: fp16}").kind, Kind::Dynamic);  // auto: fp16 needs it
  EXPECT_EQ(scaler("{compute: bf16}").kind, Kind::None);     // auto: bf16 has float's range
  EXPECT_EQ(scaler("{compute: fp32}").kind, Kind::None);
  EXPECT_EQ(scaler("{compute: bf16, loss_scale: dynamic, growth_interval: 7}").growth_interval, 7);
  const LossScalerConfig fixed = scaler("{compute: fp16, loss_scale: 1024}");
  EXPECT_EQ(fixed.kind, Kind::Static);
  EXPECT_EQ(fixed.init_scale, 1024.0);
  EXPECT_EQ(error_for(std::string(kBase) + "precision: {loss_scale: dynamik}\n"),
            at(12) +
                "precision.loss_scale: expected auto, dynamic, none or a number > 0, got "
                "'dynamik'");
  EXPECT_EQ(error_for(std::string(kBase) + "precision: {compute: fp8}\n"),
            at(12) + "precision.compute: expected one of fp32, fp16, bf16, got 'fp8'");
}

TEST_F(ConfigTest, CudaWithoutAGpuIsRefused) {
  if (visible_gpus() > 0) GTEST_SKIP() << "this machine has a GPU";
#ifdef TRAINER_HAS_CUDA
  const char* why = "no CUDA device is visible on this node; use cpu or auto";
#else
  const char* why =
      "this build has no CUDA backend (nvcc was not found when it was built); "
      "use cpu or auto";
#endif
  EXPECT_EQ(error_for(std::string(kBase) + "device: cuda\n"), at(12) + "device: cuda: " + why);
  EXPECT_EQ(error_for(std::string(kBase) + "parallel: {communicator: nccl}\n"),
            at(12) +
                "parallel.communicator: nccl needs device cuda; this run trains on the CPU; use "
                "mpi or auto");
  EXPECT_EQ(error_for(std::string(kBase) + "device: tpu\n"),
            at(12) + "device: expected one of auto, cpu, cuda, got 'tpu'");
}

TEST_F(ConfigTest, MalformedYaml) {
  const std::string err = error_for(replaced("batch_size: 32", "batch_size: [32"));
  EXPECT_EQ(err.rfind(at(5) + "invalid YAML: ", 0), 0u) << err;
}

TEST_F(ConfigTest, OverridesApplyAndTheirErrorsNameTheFlag) {
  test::write_file(path(), kBase);
  const Config c = load_config(
      path(), {"optimizer.lr=0.5", "model.layers[1].out_features=16", "train.epochs=3"});
  EXPECT_DOUBLE_EQ(c.lr.base_lr, 0.5);
  EXPECT_EQ(c.epochs, 3);
  EXPECT_EQ(c.tree["model"]["layers"][1]["out_features"].as<int>(), 16);
  EXPECT_EQ(error_for(kBase, {"optimizer.lr=abc"}),
            "--set optimizer.lr=abc: optimizer.lr: expected a number > 0, got 'abc'");
  EXPECT_EQ(error_for(kBase, {"optimizer.lr"}), "--set optimizer.lr: expected key.path=value");
  EXPECT_EQ(error_for(kBase, {"model.layers[9].out_features=3"}),
            "--set model.layers[9].out_features=3: 9 is not an index of a list of 4");
  EXPECT_EQ(error_for(kBase, {"optimizer.betas=1"}),
            "--set optimizer.betas=1: optimizer.betas: unknown key; expected one of: lr, momentum, "
            "nesterov, schedule, type, weight_decay");
}

TEST_F(ConfigTest, DefaultsAreFilledIntoTheResolvedConfig) {
  test::write_file(path(), kBase);
  const Config c = load_config(path(), {});
  EXPECT_EQ(c.tree["train"]["epochs"].as<int>(), 10);
  EXPECT_EQ(c.tree["optimizer"]["momentum"].as<double>(), 0.0);
  EXPECT_EQ(c.tree["parallel"]["data"].as<std::string>(), "auto");
  EXPECT_EQ(c.out_dir, "runs/t");
}

}  // namespace
}  // namespace trainer
